/**
 * Fixed-point numbers for requantization, as gemmlowp / TFLite use them: a real
 * multiplier becomes a 31-bit integer and a right shift.
 */

/** Bits of a multiplier: multipliers lie in [2^30, 2^31). */
export const MULTIPLIER_BITS = 31;

/** A positive real `r` as `multiplier * 2^-shift`, with an integer multiplier in [2^30, 2^31). */
export interface FixedPoint {
  multiplier: number;
  shift: number;
}

/** The fixed-point form of a real multiplier (0 stays 0). Relative error below 2^-31. */
export function toFixedPoint(real: number): FixedPoint {
  if (!(Number.isFinite(real) && real >= 0))
    throw new RangeError(`fixed point: multiplier must be finite and >= 0, got ${real}`);
  if (real === 0) return { multiplier: 0, shift: 0 };
  let shift = MULTIPLIER_BITS - 1 - Math.floor(Math.log2(real));
  let multiplier = Math.round(real * 2 ** shift);
  // log2 and rounding can land one off near powers of two: renormalise into [2^30, 2^31).
  if (multiplier >= 2 ** MULTIPLIER_BITS) shift -= 1;
  else if (multiplier < 2 ** (MULTIPLIER_BITS - 1)) shift += 1;
  multiplier = Math.round(real * 2 ** shift);
  return { multiplier, shift };
}

/** Round half to even, as `tf.round`. */
export function roundHalfEven(x: number): number {
  // floor(x + 0.5) sends ties up (and is faster than Math.round here); an odd result of
  // a tie steps back to the even neighbour.
  const r = Math.floor(x + 0.5);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
