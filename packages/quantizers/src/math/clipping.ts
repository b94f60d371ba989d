import {
  dispose,
  greater,
  mul,
  reshape,
  squaredDifference,
  stridedSlice,
  sum,
  type Tensor,
  max as tfMax,
  min as tfMin,
  tidy,
  where,
} from '@tensorflow/tfjs-core';
import { type Range, rangeOver } from './ranges.js';
import type { QuantSpec } from './spec.js';
import { fakeQuantize } from './uniform.js';

/** Options of {@link mseClipRange}. */
export interface MseClipOptions {
  /** Axes that keep one range each (as in {@link rangeOver}); `[]` for one range. Default `[]`. */
  keepAxes?: readonly number[];
  /** Clipping ratios tried: `i / candidates` for `i = 1..candidates`. Default 100. */
  candidates?: number;
  /**
   * Score the candidates on at most this many evenly strided elements (the extremes
   * still come from every element). Only for a single range (`keepAxes = []`).
   * Default: all elements.
   */
  sampleLimit?: number;
}

/**
 * The clipped range `[α·min, α·max]` whose fake quantization has the smallest squared
 * error on `x`, one α per slice along `keepAxes`, searched over `α = i / candidates`.
 * Clipping trades rounding error inside the range for clamping error at its ends; at 4
 * bits and below the min/max range (α = 1) wastes most of the grid on a few outliers.
 * α = 1 is among the candidates, so the result is never worse than min/max on `x`.
 */
export function mseClipRange(x: Tensor, spec: QuantSpec, options: MseClipOptions = {}): Range {
  const keepAxes = options.keepAxes ?? [];
  const candidates = options.candidates ?? 100;
  if (!Number.isInteger(candidates) || candidates < 1) {
    throw new RangeError(`mseClipRange: candidates must be a positive integer, got ${candidates}`);
  }
  const kept = new Set(keepAxes.map((axis) => (axis < 0 ? x.rank + axis : axis)));
  const perTensor = keepAxes.length === 0;
  // One range: candidates are scored on a flat sample, so the range is a scalar until the end.
  const full = perTensor ? scalarRange(x) : rangeOver(x, keepAxes);
  const scored = perTensor ? strided(x, options.sampleLimit) : x;
  const reduce: number[] = [];
  for (let axis = 0; axis < scored.rank; axis++) if (!kept.has(axis)) reduce.push(axis);
  let best: Range | null = null;
  let bestError: Tensor | null = null;
  try {
    for (let i = candidates; i >= 1; i--) {
      const ratio = i / candidates;
      const next = tidy(() => {
        const range = { min: mul(full.min, ratio), max: mul(full.max, ratio) };
        const error = sum(squaredDifference(fakeQuantize(scored, range, spec), scored), reduce, true);
        if (!best || !bestError) return [range.min, range.max, error];
        // Strictly better only, so ties keep the wider range.
        const better = greater(bestError, error);
        return [
          where(better, range.min, best.min),
          where(better, range.max, best.max),
          where(better, error, bestError),
        ];
      });
      if (best && bestError) dispose([best.min, best.max, bestError]);
      best = { min: next[0] as Tensor, max: next[1] as Tensor };
      bestError = next[2] as Tensor;
    }
    const { min, max } = best as Range;
    if (!perTensor) return { min, max };
    const shape = x.shape.map(() => 1);
    const shaped = { min: reshape(min, shape), max: reshape(max, shape) };
    dispose([min, max]);
    return shaped;
  } finally {
    dispose([full.min, full.max, ...(bestError ? [bestError] : [])]);
    if (scored !== x) scored.dispose();
  }
}

/** The extremes of every element of `x`, as scalars. */
function scalarRange(x: Tensor): Range {
  return { min: tfMin(x), max: tfMax(x) };
}

/**
 * Up to `limit` elements of `x`, evenly strided, as a flat tensor (all of them without a
 * limit). The stride is coprime with the last axis (the channels of NHWC activations),
 * so the sample visits every channel: a stride of 16 over 16 channels would see only
 * the first.
 */
function strided(x: Tensor, limit: number | undefined): Tensor {
  return tidy(() => {
    const flat = reshape(x, [-1]);
    if (limit === undefined || flat.size <= limit) return flat;
    const channels = x.shape[x.rank - 1] ?? 1;
    let step = Math.ceil(flat.size / limit);
    while (greatestCommonDivisor(step, channels) !== 1) step++;
    return stridedSlice(flat, [0], [flat.size], [step]);
  });
}

function greatestCommonDivisor(a: number, b: number): number {
  return b === 0 ? a : greatestCommonDivisor(b, a % b);
}
