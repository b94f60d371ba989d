import { registerCpuKernelFixes, registerWasmTrainingKernels } from '@qimera/wasm-training';
import { findBackendFactory, getBackend, setBackend } from '@tensorflow/tfjs-core';

/** Backends in the order {@link useFastestBackend} tries them. */
export const BACKEND_PREFERENCE = ['tensorflow', 'webgpu', 'webgl', 'wasm', 'cpu'] as const;

/**
 * Switches tfjs to the fastest backend that is registered, i.e. whose package the
 * application imported: tfjs-node ('tensorflow'), then webgpu / webgl in browsers, then
 * wasm (with the training kernels of `@qimera/wasm-training`), then cpu (with its fix of
 * a tfjs-cpu gradient, `registerCpuKernelFixes`). Pass `prefer` to pick one explicitly.
 * Importing qimera registers no backend and changes none; this call does. Reports the
 * choice through `log` (default: silent).
 *
 * @returns the backend name now in use.
 * @throws if the preferred backend is not registered or fails to start.
 */
export async function useFastestBackend(
  options: { prefer?: string; log?: (message: string) => void } = {},
): Promise<string> {
  const log = options.log ?? (() => {});
  if (findBackendFactory('wasm')) registerWasmTrainingKernels();
  registerCpuKernelFixes();
  const candidates = options.prefer ? [options.prefer] : BACKEND_PREFERENCE.filter((name) => findBackendFactory(name));
  for (const name of candidates) {
    if (!findBackendFactory(name)) {
      throw new Error(`useFastestBackend: backend '${name}' is not registered (import its package first)`);
    }
    if (await setBackend(name)) {
      log(`qimera: using the tfjs '${name}' backend${name === 'wasm' ? ' with @qimera/wasm-training kernels' : ''}`);
      return getBackend();
    }
    if (options.prefer) throw new Error(`useFastestBackend: backend '${name}' failed to initialise`);
  }
  throw new Error('useFastestBackend: no tfjs backend could be initialised');
}
