import {
  getKernel,
  type KernelConfig,
  type KernelFunc,
  registerKernel,
  type TensorInfo,
  unregisterKernel,
} from '@tensorflow/tfjs-core';

/** What a kernel function is called with. */
export type KernelArgs = Parameters<KernelFunc>[0];

/**
 * A replacement for one of a backend's own kernels (tfjs-wasm's unless told) that runs
 * `fastPath` and hands every call it returns null for to the original kernel, which
 * `fastPath` may also call itself. Must be built after the backend registered its
 * kernels (the original is looked up here).
 */
export function withFastPath(
  kernelName: string,
  fastPath: (args: KernelArgs, original: KernelFunc | undefined) => TensorInfo | null,
  backendName = 'wasm',
): KernelConfig {
  const originalConfig = getKernel(kernelName, backendName);
  const original = originalConfig?.kernelFunc;
  return {
    kernelName,
    backendName,
    // The original kernel binds its functions when the backend starts.
    ...(originalConfig?.setupFunc ? { setupFunc: originalConfig.setupFunc } : {}),
    kernelFunc: (args) => {
      const fast = fastPath(args, original);
      if (fast) return fast;
      if (!original) {
        throw new Error(
          `${kernelName} (@qimera/wasm-training): no original ${backendName} ${kernelName} kernel to fall back on`,
        );
      }
      return original(args) as TensorInfo;
    },
  };
}

/**
 * Registers each config in place of whatever its backend has under that kernel name,
 * skipping those already in place.
 *
 * @returns the kernel names registered by this call.
 */
export function installKernels(configs: readonly KernelConfig[]): string[] {
  const installed: string[] = [];
  for (const config of configs) {
    const current = getKernel(config.kernelName, config.backendName);
    if (current === config) continue;
    if (current) unregisterKernel(config.kernelName, config.backendName);
    registerKernel(config);
    installed.push(config.kernelName);
  }
  return installed;
}
