import { registerCpuKernelFixes, registerWasmTrainingKernels } from '@qimera/wasm-training';
import { setBackend } from '@tensorflow/tfjs-core';

/**
 * Starts `backend` in a worker thread, which begins with none: imports it (an optional
 * peer the main thread runs, so it is installed) and registers the kernels the main
 * thread registers for it.
 * @param who names the worker in errors.
 */
export async function startWorkerBackend(backend: string, who: string): Promise<void> {
  if (backend === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    registerWasmTrainingKernels();
  } else if (backend === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    registerCpuKernelFixes();
  } else if (backend === 'tensorflow') await import('@tensorflow/tfjs-node' as string);
  else throw new Error(`${who}: backend '${backend}' cannot run in a worker (use wasm, cpu or tensorflow)`);
  if (!(await setBackend(backend))) throw new Error(`${who}: backend '${backend}' failed to start`);
}
