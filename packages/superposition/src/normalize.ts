import { add, moments, mul, rsqrt, sub, type Tensor3D, tidy } from '@tensorflow/tfjs-core';

/**
 * How embedding slots `[batch, slots, dim]` are standardised before mapping:
 * - `'official'`: as the Qimera code does: a plain batch (one slot) per sample over its
 *   latent dims; a superposed batch per slot over latent dims and the batch together.
 * - `'per-sample'`: always per sample and slot over the latent dims.
 */
export type EmbeddingNormalization = 'official' | 'per-sample';

const EPSILON = 1e-5;

/** Zero mean, unit (biased) variance, no affine parameters, no running statistics. */
export function normalizeEmbeddings(slots: Tensor3D, mode: EmbeddingNormalization): Tensor3D {
  return tidy(() => {
    const overBatchToo = mode === 'official' && (slots.shape[1] as number) > 1;
    const { mean, variance } = moments(slots, overBatchToo ? [0, 2] : [2], true);
    return mul(sub(slots, mean), rsqrt(add(variance, EPSILON))) as Tensor3D;
  });
}
