import {
  concat,
  engine,
  getKernel,
  type KernelConfig,
  ResizeNearestNeighborGrad,
  type ResizeNearestNeighborGradInputs,
  slice,
  type Tensor,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { installKernels, withFastPath } from './fast_path.js';
import { composeKernel } from './kernel_io.js';

/**
 * tfjs-cpu 4.22's ResizeNearestNeighborGrad reads `dy` at the images' batch stride, so
 * every batch element after the first gets a wrong gradient (for instance a generator's
 * UpSampling2D trained on the cpu backend). It is right for one element: this runs it
 * one batch element at a time and stacks the results.
 */
function cpuResizeNearestNeighborGradFix(): KernelConfig {
  return withFastPath(
    ResizeNearestNeighborGrad,
    ({ inputs, attrs, backend }, original) => {
      const { images, dy } = inputs as ResizeNearestNeighborGradInputs;
      const [x, g] = [images, dy] as [TensorInfo, TensorInfo];
      const batch = x.shape[0] as number;
      if (batch <= 1 || !original) return null;
      return composeKernel(backend, [x, g], (xt, dyt) => {
        const element = (t: Tensor, b: number) => slice(t, b, 1);
        const parts = Array.from({ length: batch }, (_, b) => {
          const out = original({ inputs: { images: element(xt, b), dy: element(dyt, b) }, attrs, backend });
          return engine().makeTensorFromTensorInfo(out as TensorInfo);
        });
        return concat(parts, 0);
      });
    },
    'cpu',
  );
}

let fixes: KernelConfig[] | null = null;

/**
 * Registers corrections for cpu-backend kernels whose gradients are wrong in tfjs 4.22
 * (ResizeNearestNeighborGrad past the first batch element). Does nothing for kernels
 * the cpu backend has not registered (import `@tensorflow/tfjs-backend-cpu` first).
 * Safe to call more than once.
 *
 * @returns the kernel names registered by this call.
 */
export function registerCpuKernelFixes(): string[] {
  if (!getKernel(ResizeNearestNeighborGrad, 'cpu')) return [];
  fixes ??= [cpuResizeNearestNeighborGradFix()];
  return installKernels(fixes);
}
