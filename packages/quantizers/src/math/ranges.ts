import { max, min, type Tensor, tidy } from '@tensorflow/tfjs-core';

/** Minimum and maximum of a tensor, shaped to broadcast against it. */
export interface Range {
  min: Tensor;
  max: Tensor;
}

/**
 * Min and max over every axis except `keepAxes`, with kept dims so the result
 * broadcasts against `x`. `keepAxes = []` gives the per-tensor range; `[3]` on a
 * Conv2D kernel `[kh, kw, in, out]` gives one range per output channel; `[2, 3]` on a
 * DepthwiseConv2D kernel `[kh, kw, in, multiplier]` one per output channel too.
 * Negative axes count from the end.
 */
export function rangeOver(x: Tensor, keepAxes: readonly number[] = []): Range {
  const keep = new Set(
    keepAxes.map((axis) => {
      const resolved = axis < 0 ? x.rank + axis : axis;
      if (!Number.isInteger(resolved) || resolved < 0 || resolved >= x.rank) {
        throw new RangeError(`rangeOver: axis ${axis} is out of range for a rank-${x.rank} tensor`);
      }
      return resolved;
    }),
  );
  const reduce: number[] = [];
  for (let axis = 0; axis < x.rank; axis++) if (!keep.has(axis)) reduce.push(axis);
  return tidy(() => ({ min: min(x, reduce, true), max: max(x, reduce, true) }));
}
