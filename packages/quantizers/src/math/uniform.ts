import {
  abs,
  add,
  cast,
  clipByValue,
  div,
  greater,
  maximum,
  minimum,
  mul,
  onesLike,
  round,
  scalar,
  sub,
  type Tensor,
  tidy,
  where,
  zerosLike,
} from '@tensorflow/tfjs-core';
import type { Range } from './ranges.js';
import { integerRange, type QuantSpec } from './spec.js';

/**
 * Scale and zero point of an affine quantizer: `real = (q - zeroPoint) * scale`.
 * Both broadcast against the tensor they quantize.
 */
export interface QuantParams {
  scale: Tensor;
  /** Integral (stored as float32), always inside `[qmin, qmax]`. */
  zeroPoint: Tensor;
}

// Below this a range is treated as empty: the tensor is (numerically) constant zero.
const MIN_SCALE = 1e-30;

/**
 * Scale and zero point for the range `[min, max]`.
 *
 * The range is first widened to contain 0 so that zero (ReLU outputs, zero padding) is
 * represented exactly and the zero point is an integer inside the grid. Asymmetric:
 * `scale = (max - min) / (qmax - qmin)`, `zeroPoint = clamp(round(qmin - min / scale))`.
 * Symmetric: `scale = max(|min|, |max|) / qmax`, `zeroPoint = 0`. An empty range
 * (`min == max == 0`) gets scale 1, so nothing is ever divided by zero; a constant
 * non-zero channel keeps a proper scale because of the widening.
 */
export function quantParams(range: Range, spec: QuantSpec): QuantParams {
  const { qmin, qmax } = integerRange(spec);
  return tidy(() => {
    const lo = minimum(range.min, 0);
    const hi = maximum(range.max, 0);
    const rawScale =
      spec.scheme === 'asymmetric' ? div(sub(hi, lo), qmax - qmin) : div(maximum(abs(lo), abs(hi)), qmax);
    const scale = where(greater(rawScale, MIN_SCALE), rawScale, onesLike(rawScale));
    const zeroPoint =
      spec.scheme === 'asymmetric'
        ? clipByValue(round(sub(scalar(qmin), div(lo, scale))), qmin, qmax)
        : zerosLike(scale);
    return { scale, zeroPoint };
  });
}

/**
 * Real values to integers: `clamp(round(x / scale) + zeroPoint, qmin, qmax)`, as int32.
 * Rounding is half to even (`tf.round`), like NumPy and PyTorch.
 */
export function quantize(x: Tensor, params: QuantParams, spec: QuantSpec): Tensor {
  return tidy(() => cast(quantizeToGrid(x, params, spec), 'int32'));
}

/** Integers back to real values: `(q - zeroPoint) * scale`, as float32. */
export function dequantize(q: Tensor, params: QuantParams): Tensor {
  return tidy(() => mul(sub(cast(q, 'float32'), params.zeroPoint), params.scale));
}

/**
 * Quantize then dequantize in float32: the value a k-bit model computes with. No
 * special gradient: see {@link fakeQuantizeSTE} for training.
 */
export function fakeQuantize(x: Tensor, range: Range, spec: QuantSpec): Tensor {
  return tidy(() => {
    const params = quantParams(range, spec);
    return mul(sub(quantizeToGrid(x, params, spec), params.zeroPoint), params.scale);
  });
}

function quantizeToGrid(x: Tensor, params: QuantParams, spec: QuantSpec): Tensor {
  const { qmin, qmax } = integerRange(spec);
  return clipByValue(add(round(div(x, params.scale)), params.zeroPoint), qmin, qmax);
}
