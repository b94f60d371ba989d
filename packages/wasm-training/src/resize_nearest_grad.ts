import {
  avgPool,
  type KernelConfig,
  mul,
  ResizeNearestNeighborGrad,
  type ResizeNearestNeighborGradAttrs,
  type ResizeNearestNeighborGradInputs,
  scalar,
  type Tensor4D,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { withFastPath } from './fast_path.js';
import { composeKernel } from './kernel_io.js';

/**
 * The gradient of nearest-neighbour upsampling by whole factors (UpSampling2D, as in
 * the Qimera generator) as one XNNPACK average pooling: each input pixel was copied to
 * an sh x sw block, so its gradient is the block's sum, sh * sw times the block mean.
 * Upsampling by fractional factors, or with aligned corners, uses the original kernel.
 */
export function fasterResizeNearestNeighborGradConfig(): KernelConfig {
  return withFastPath(ResizeNearestNeighborGrad, ({ inputs, attrs, backend }) => {
    const { images, dy } = inputs as ResizeNearestNeighborGradInputs;
    const { alignCorners } = attrs as unknown as ResizeNearestNeighborGradAttrs;
    const [x, g] = [images, dy] as [TensorInfo, TensorInfo];
    const [, inH, inW] = x.shape as [number, number, number, number];
    const [, outH, outW] = g.shape as [number, number, number, number];
    const factors = [outH / inH, outW / inW] as [number, number];
    if (alignCorners || g.dtype !== 'float32' || !factors.every((f) => Number.isInteger(f) && f > 1)) {
      return null;
    }
    return composeKernel(backend, [g], (dyt) =>
      mul(avgPool(dyt as Tensor4D, factors, factors, 'valid'), scalar(factors[0] * factors[1])),
    );
  });
}
