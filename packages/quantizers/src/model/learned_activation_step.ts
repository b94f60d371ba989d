import {
  dispose,
  less,
  maximum,
  mul,
  randomUniform,
  scalar,
  type Tensor,
  tidy,
  type Variable,
  variable,
  where,
} from '@tensorflow/tfjs-core';
import type { ActivationQuantizer } from '../layers/activation_quantizer.js';
import { fakeQuantizeLearnedStep } from '../math/learned_step.js';
import { integerRange } from '../math/spec.js';
import { quantParams } from '../math/uniform.js';

// The step never falls below this share of the calibrated one (a zero step is undefined).
const MIN_STEP_MULTIPLE = 0.01;

/**
 * The step size of a frozen activation quantizer as a learnable multiple of its
 * calibrated value (the zero point stays), for reconstruction: {@link feed} quantizes
 * with the current step, {@link writeToQuantizer} keeps it. The caller disposes it.
 */
export class LearnedActivationStep {
  readonly multiplier: Variable;
  /** The calibrated step size. */
  readonly initial: number;
  private readonly zeroPoint: number;

  /** @param drop QDrop's probability that an input element stays in float in an optimisation step. */
  constructor(
    readonly quantizer: ActivationQuantizer,
    private readonly drop: number,
  ) {
    const { min, max } = quantizer.rangeState();
    const [scale, zeroPoint] = tidy(() => {
      const params = quantParams({ min: scalar(min), max: scalar(max) }, quantizer.spec);
      return [params.scale.dataSync()[0] as number, params.zeroPoint.dataSync()[0] as number];
    });
    this.initial = scale as number;
    this.zeroPoint = zeroPoint as number;
    this.multiplier = tidy(() => variable(scalar(1), true));
  }

  /**
   * `x` fake-quantized with the current step. With a `dropSeed` (an optimisation step),
   * each element keeps its float value with probability `drop` (QDrop).
   */
  feed(x: Tensor, dropSeed?: number): Tensor {
    return tidy(() => {
      const scale = mul(maximum(this.multiplier, MIN_STEP_MULTIPLE), this.initial);
      const quantized = fakeQuantizeLearnedStep(x, scale, this.zeroPoint, this.quantizer.spec);
      return dropSeed === undefined || this.drop === 0
        ? quantized
        : where(less(randomUniform(x.shape, 0, 1, 'float32', dropSeed), this.drop), x, quantized);
    });
  }

  /** The current step size. */
  current(): number {
    return this.initial * Math.max(this.multiplier.dataSync()[0] as number, MIN_STEP_MULTIPLE);
  }

  /** Sets the quantizer's range to the one whose step and zero point are the learned ones. */
  writeToQuantizer(): void {
    const { qmin, qmax } = integerRange(this.quantizer.spec);
    const scale = this.current();
    this.quantizer.setRange((qmin - this.zeroPoint) * scale, (qmax - this.zeroPoint) * scale);
  }

  dispose(): void {
    dispose(this.multiplier);
  }
}
