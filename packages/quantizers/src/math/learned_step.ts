import { clipByValue, customGrad, div, mul, round, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { integerRange, type QuantSpec } from './spec.js';

// Rounding whose gradient is the identity: the straight-through part of LSQ.
const roundStraightThrough = customGrad((...inputs) => {
  const x = inputs[0] as Tensor;
  return { value: round(x), gradFunc: (dy: Tensor) => dy };
});

/**
 * Fake quantization with a learnable step size (LSQ, Esser et al. 2020):
 * `(clamp(round(x / scale) + zeroPoint, qmin, qmax) - zeroPoint) * scale`, the value
 * {@link fakeQuantize} gives for the range with that scale and zero point. Gradients
 * flow into `scale` (LSQ's: `round(x / s) - x / s` inside the range, the clamped grid
 * end outside it) and straight through to `x` inside the range.
 *
 * @param scale a scalar (or broadcasting) step size, usually a variable's value.
 * @param zeroPoint the integer zero point, held fixed.
 */
export function fakeQuantizeLearnedStep(x: Tensor, scale: Tensor, zeroPoint: number, spec: QuantSpec): Tensor {
  const { qmin, qmax } = integerRange(spec);
  return tidy(() => {
    // Clamping x / scale to the integer bounds before rounding equals clamping after it,
    // and keeps the clamped ends' gradient with respect to the scale.
    const steps = clipByValue(div(x, scale), qmin - zeroPoint, qmax - zeroPoint);
    return mul(roundStraightThrough(steps) as Tensor, scale);
  });
}
