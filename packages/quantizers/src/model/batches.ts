import { split, type Tensor } from '@tensorflow/tfjs-core';

/**
 * `x` split along its first axis into batches of `batchSize` (the last one smaller when
 * the count does not divide). The caller disposes them.
 */
export function splitIntoBatches(x: Tensor, batchSize: number): Tensor[] {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`splitIntoBatches: batchSize must be a positive integer, got ${batchSize}`);
  }
  const count = x.shape[0] as number;
  const sizes: number[] = [];
  for (let start = 0; start < count; start += batchSize) sizes.push(Math.min(batchSize, count - start));
  return split(x, sizes);
}
