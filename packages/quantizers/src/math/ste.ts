import { customGrad, type Tensor, tidy } from '@tensorflow/tfjs-core';
import type { Range } from './ranges.js';
import type { QuantSpec } from './spec.js';
import { fakeQuantize } from './uniform.js';

/**
 * {@link fakeQuantize} with a straight-through estimator: the forward value is
 * quantized, the gradient with respect to `x` is the upstream gradient unchanged (also
 * outside the range, as in the Qimera/GDFQ code). The range is a constant here: no
 * gradient flows into it, even when it is computed from `x`.
 *
 * @param range a fixed range, or a function computing it from `x` (per-channel weight
 *   ranges are taken from the current weights at every forward).
 */
export function fakeQuantizeSTE(x: Tensor, range: Range | ((x: Tensor) => Range), spec: QuantSpec): Tensor {
  const op = customGrad((...inputs) => {
    const input = inputs[0] as Tensor;
    return {
      value: tidy(() => fakeQuantize(input, typeof range === 'function' ? range(input) : range, spec)),
      gradFunc: (dy: Tensor) => dy,
    };
  });
  return op(x);
}
