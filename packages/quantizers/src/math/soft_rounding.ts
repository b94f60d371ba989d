import {
  abs,
  add,
  cast,
  clipByValue,
  dispose,
  div,
  equal,
  floor,
  greaterEqual,
  log,
  logicalOr,
  maximum,
  mean,
  minimum,
  mul,
  pow,
  round,
  scalar,
  sigmoid,
  sub,
  sum,
  type Tensor,
  tidy,
  type Variable,
  variable,
  where,
} from '@tensorflow/tfjs-core';
import type { Range } from './ranges.js';
import type { QuantSpec } from './spec.js';
import { quantize, quantParams } from './uniform.js';

// The rectified sigmoid's stretch (AdaRound, Nagel et al. 2020): h(V) reaches 0 and 1
// exactly, so rounding choices can become hard before the end.
const ZETA = 1.1;
const GAMMA = -0.1;

/**
 * Learned rounding of a kernel onto its k-bit grid (AdaRound, Nagel et al. 2020): each
 * element is rounded down or up, `s * (floor(w / s) + h(V))`, with `h(V)` a rectified
 * sigmoid in [0, 1] of a trainable `V` that starts at the element's fractional part (the
 * soft kernel starts equal to the float kernel) and that {@link regularizer} drives to
 * 0 or 1.
 *
 * The grid is the one the layer quantizes with, taken from the kernel's range (per
 * output channel, widened to contain 0), and {@link hardKernel} keeps that range: the
 * elements at a channel's minimum or maximum keep their value (and so their nearest
 * rounding), and the others stay between them. Writing {@link masterKernel} into a layer
 * that takes its ranges from its kernel therefore quantizes it to exactly the chosen grid
 * points, {@link hardKernel}. The caller disposes the rounding.
 */
export class SoftRounding {
  /** The trainable rounding logits V, one per kernel element. */
  readonly logits: Variable;
  private readonly kernel: Tensor;
  private readonly scale: Tensor;
  /** floor(w / s): the grid index (relative to the zero point) rounding down gives. */
  private readonly floored: Tensor;
  /** Grid indices (relative to the zero point) of the range's ends: nothing leaves them. */
  private readonly lowest: Tensor;
  private readonly highest: Tensor;
  /** Elements at their channel's minimum or maximum: they keep their value. */
  private readonly pinned: Tensor;
  /** The pinned elements' value on the grid (nearest rounding). */
  private readonly pinnedQuantized: Tensor;
  private readonly range: Range;

  /**
   * @param kernel the float kernel (not kept: it is copied).
   * @param range the range the layer quantizes `kernel` with (its per-channel min and max).
   */
  constructor(kernel: Tensor, range: Range, spec: QuantSpec) {
    const held = tidy(() => {
      const params = quantParams(range, spec);
      const { scale } = params;
      // Grid indices relative to the zero point (quantize's int32 upcast back to float32).
      const toGrid = (x: Tensor) => sub(quantize(x, params, spec), params.zeroPoint);
      const scaled = div(kernel, scale);
      const floored = floor(scaled);
      const fraction = clipByValue(sub(scaled, floored), 0.01, 0.99);
      // h(V) = fraction: V = -log((ζ - γ) / (fraction - γ) - 1).
      const initial = mul(log(sub(div(scalar(ZETA - GAMMA), sub(fraction, GAMMA)), 1)), -1);
      const pinned = logicalOr(equal(kernel, range.min), equal(kernel, range.max));
      return {
        kernel: kernel.clone(),
        scale,
        floored,
        lowest: toGrid(range.min),
        highest: toGrid(range.max),
        pinned,
        pinnedQuantized: mul(toGrid(kernel), scale),
        initial,
        range: { min: range.min.clone(), max: range.max.clone() },
      };
    });
    this.kernel = held.kernel;
    this.scale = held.scale;
    this.floored = held.floored;
    this.lowest = held.lowest;
    this.highest = held.highest;
    this.pinned = held.pinned;
    this.pinnedQuantized = held.pinnedQuantized;
    this.range = held.range;
    this.logits = variable(held.initial, true);
    held.initial.dispose();
  }

  /** h(V) in [0, 1]: how far each element is rounded up. */
  upward(): Tensor {
    return tidy(() => clipByValue(add(mul(sigmoid(this.logits), ZETA - GAMMA), GAMMA), 0, 1));
  }

  /** The kernel with soft rounding, differentiable in {@link logits}. */
  softKernel(): Tensor {
    return tidy(() => this.onGrid(add(this.floored, this.upward())));
  }

  /**
   * `Σ (1 - |2h - 1|^β)`: 0 when every element is rounded hard. A large β (20) leaves
   * elements free to move; annealing it towards 2 pushes them to a side.
   */
  regularizer(beta: number): Tensor {
    return tidy(() => sum(sub(1, pow(abs(sub(mul(this.upward(), 2), 1)), scalar(beta)))));
  }

  /** The kernel rounded as the logits say (up where h(V) >= 0.5): its values on the grid. */
  hardKernel(): Tensor {
    return tidy(() => this.onGrid(add(this.floored, this.hardUp())));
  }

  /**
   * A float kernel that the layer, taking its range from it, quantizes to exactly
   * {@link hardKernel}: the range's ends keep their elements, the others are their grid
   * values, clipped into the range (a grid end beyond it by less than half a step is
   * represented by the range's end, which rounds to it).
   */
  masterKernel(): Tensor {
    return tidy(() => {
      const values = minimum(maximum(this.hardKernel(), this.range.min), this.range.max);
      return where(this.pinned, this.kernel, values);
    });
  }

  /** Share of elements whose rounding differs from rounding to nearest. */
  changedShare(): number {
    return tidy(() => {
      const nearest = this.onGrid(round(div(this.kernel, this.scale)));
      const same = equal(nearest, this.hardKernel());
      return 1 - (mean(cast(same, 'float32')).dataSync()[0] as number);
    });
  }

  dispose(): void {
    dispose([
      this.logits,
      this.kernel,
      this.scale,
      this.floored,
      this.lowest,
      this.highest,
      this.pinned,
      this.pinnedQuantized,
      this.range.min,
      this.range.max,
    ]);
  }

  private hardUp(): Tensor {
    return tidy(() => cast(greaterEqual(this.logits, 0), 'float32'));
  }

  /** Grid indices (relative to the zero point) clamped to the range's, as values; pinned elements as they round. */
  private onGrid(indices: Tensor): Tensor {
    return tidy(() =>
      where(this.pinned, this.pinnedQuantized, mul(minimum(maximum(indices, this.lowest), this.highest), this.scale)),
    );
  }
}
