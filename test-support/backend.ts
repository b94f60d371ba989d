import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
// Gradients are registered by tfjs-layers or the tfjs union package; kernel tests use neither.
import '@tensorflow/tfjs-core/dist/register_all_gradients';

/** Selects a tfjs backend for a test file (cpu: exact reference; wasm: fast forward). */
export async function useBackend(name: 'cpu' | 'wasm' = 'cpu'): Promise<void> {
  if (!(await tf.setBackend(name))) throw new Error(`tfjs backend '${name}' failed to initialise`);
  await tf.ready();
}
