import {
  add,
  mul,
  randomNormal,
  reshape,
  sum,
  type Tensor2D,
  type Tensor3D,
  tensor3d,
  tidy,
} from '@tensorflow/tfjs-core';
import type { ClassEmbedding } from './embedding.js';
import type { LabelBatch } from './labels.js';
import { type EmbeddingNormalization, normalizeEmbeddings } from './normalize.js';

/** Options of {@link superposedLatent}. */
export interface LatentOptions {
  /** Scale of the noise added to each slot's embedding. Default 1. */
  noiseScale?: number;
  /** Default 'official'. */
  normalization?: EmbeddingNormalization;
  /**
   * Maps the normalised slots `[batch, slots, dim]` to `[batch, slots, outDim]` before
   * they are summed: the disentanglement mapping (`@qimera/disentangle`). Default: none.
   */
  mapSlots?: (slots: Tensor3D) => Tensor3D;
  /** Seed of the noise (tfjs seed, never 0). */
  noiseSeed: number;
}

/**
 * The generator input of a label batch: per slot `e = E[c] + noiseScale·z`,
 * normalised, optionally mapped, then summed with the coefficients:
 * `Σ_k λ_k · map(norm(E[c_k] + z_k))`, shape `[batch, outDim]`. A plain batch is the
 * single-slot case (λ = 1). Differentiable with respect to the embedding table and
 * the mapping.
 */
export function superposedLatent(labels: LabelBatch, embedding: ClassEmbedding, options: LatentOptions): Tensor2D {
  return tidy(() => {
    const { batchSize, slots } = labels;
    const rows = embedding.lookup(labels.classes);
    const noise = randomNormal(rows.shape, 0, options.noiseScale ?? 1, 'float32', options.noiseSeed);
    const perSlot = reshape(add(rows, noise), [batchSize, slots, embedding.dim]) as Tensor3D;
    const normalized = normalizeEmbeddings(perSlot, options.normalization ?? 'official');
    const mapped = options.mapSlots ? options.mapSlots(normalized) : normalized;
    const lambdas = tensor3d(labels.coefficients, [batchSize, slots, 1]);
    return sum(mul(mapped, lambdas), 1) as Tensor2D;
  });
}
