import {
  BatchMatMul,
  type BatchMatMulAttrs,
  type BatchMatMulInputs,
  type KernelConfig,
  matMul,
  mul,
  reshape,
  scalar,
  type Tensor,
  type TensorInfo,
  transpose,
} from '@tensorflow/tfjs-core';
import { withFastPath } from './fast_path.js';
import { composeKernel } from './kernel_io.js';

/**
 * A matrix product with a transposed operand (a Dense layer's two gradients) as a
 * transpose and a plain product. tfjs-wasm sends only untransposed, unbatched
 * products to XNNPACK; with a transpose it runs a scalar triple loop (its 9 calls took
 * 257 ms of a 6 s Qimera iteration at batch 64). The right operand goes to XNNPACK
 * freshly made (transposed, or copied): tfjs-wasm caches XNNPACK's packed right operand
 * by tensor id, and a reshaped view shares its tensor's id. Batched products use the
 * original kernel.
 */
export function fasterBatchMatMulConfig(): KernelConfig {
  return withFastPath(BatchMatMul, ({ inputs, attrs, backend }) => {
    const { a, b } = inputs as BatchMatMulInputs;
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    const [ai, bi] = [a, b] as [TensorInfo, TensorInfo];
    if (!(transposeA || transposeB) || !isOneMatrix(ai) || !isOneMatrix(bi)) return null;
    if (ai.dtype !== 'float32' || bi.dtype !== 'float32') return null;
    const outRank = Math.max(ai.shape.length, bi.shape.length);
    return composeKernel(backend, [ai, bi], (at, bt) => {
      const left = transposeA ? transpose(asMatrix(at)) : asMatrix(at);
      const right = transposeB ? transpose(asMatrix(bt)) : mul(asMatrix(bt), scalar(1));
      const product = matMul(left, right);
      // Leading batch dimensions of size 1, as the original kernel's output has.
      return reshape(product, [...new Array(outRank - 2).fill(1), ...product.shape]);
    });
  });
}

/** True when every dimension but the last two is 1. */
function isOneMatrix(t: TensorInfo): boolean {
  return t.shape.length >= 2 && t.shape.slice(0, -2).every((d) => d === 1);
}

function asMatrix(t: Tensor): Tensor {
  return reshape(t, t.shape.slice(-2));
}
