import { getKernel, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';

/** What a kernel function is called with. */
export type KernelArgs = Parameters<KernelFunc>[0];

/**
 * A replacement for one of tfjs-wasm's own kernels that runs `fastPath` and hands every
 * call it returns null for to the original kernel. Must be built after tfjs-wasm
 * registered its kernels (the original is looked up here).
 */
export function withFastPath(kernelName: string, fastPath: (args: KernelArgs) => TensorInfo | null): KernelConfig {
  const originalConfig = getKernel(kernelName, 'wasm');
  const original = originalConfig?.kernelFunc;
  return {
    kernelName,
    backendName: 'wasm',
    // The original kernel binds its wasm function when the backend starts.
    ...(originalConfig?.setupFunc ? { setupFunc: originalConfig.setupFunc } : {}),
    kernelFunc: (args) => {
      const fast = fastPath(args);
      if (fast) return fast;
      if (!original) {
        throw new Error(`${kernelName} (@qimera/wasm-training): no original wasm ${kernelName} kernel to fall back on`);
      }
      return original(args);
    },
  };
}
