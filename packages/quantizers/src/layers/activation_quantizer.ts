import {
  add,
  concat,
  max,
  min,
  reshape,
  type serialization,
  slice,
  stack,
  type Tensor,
  tensor1d,
  tidy,
} from '@tensorflow/tfjs-core';
import { initializers, type LayerVariable, layers, type Shape } from '@tensorflow/tfjs-layers';
import { mseClipRange } from '../math/clipping.js';
import { OBSERVER_KINDS, type ObserverKind, observeRange } from '../math/observers.js';
import { type QuantScheme, type QuantSpec, validateBits, validateScheme } from '../math/spec.js';
import { fakeQuantizeSTE } from '../math/ste.js';
import type { BaseLayerArgs } from './args.js';

/** Options of {@link ActivationQuantizer}. */
export interface ActivationQuantizerArgs extends BaseLayerArgs {
  /** Activation bit width, 2 to 16. Default 8. */
  bits?: number;
  /** Default 'asymmetric' (unsigned grid, as after a ReLU). */
  scheme?: QuantScheme;
  /** How batch ranges become the range. Default 'ema' (Qimera). */
  observer?: ObserverKind;
  /** EMA decay β in [0, 1). Default 0.9. */
  emaDecay?: number;
  /** Start frozen (ranges fixed). Default false: every forward calibrates. */
  frozen?: boolean;
}

/**
 * Fake-quantizes its input per tensor with an observed range; the identity otherwise.
 *
 * While not frozen, every forward (inference or training) first folds the batch's
 * min and max into the range with its observer, then quantizes with the updated range,
 * as the Qimera student does during warm-up. Once frozen, the stored range is used as
 * is; using a frozen quantizer that never observed a batch is an error. The range and
 * the number of batches observed are non-trainable weights, so they are saved and
 * loaded with the model (and calibration can continue after loading); the frozen flag
 * is part of the layer config. Gradients pass straight through.
 */
export class ActivationQuantizer extends layers.Layer {
  static className = 'ActivationQuantizer';
  readonly spec: QuantSpec;
  readonly observer: ObserverKind;
  readonly emaDecay: number;
  private isFrozen: boolean;
  private range: LayerVariable | null = null;
  private observedBatches: LayerVariable | null = null;
  // Set once a frozen forward has checked that a range exists (avoids a sync per call).
  private rangeChecked = false;

  constructor(args: ActivationQuantizerArgs = {}) {
    super({ ...args, trainable: false });
    const where = `ActivationQuantizer '${this.name}'`;
    this.spec = {
      bits: validateBits(args.bits ?? 8, `${where} bits`),
      scheme: validateScheme(args.scheme ?? 'asymmetric', `${where} scheme`),
    };
    const observer = args.observer ?? 'ema';
    if (!OBSERVER_KINDS.includes(observer)) {
      const allowed = OBSERVER_KINDS.map((kind) => `'${kind}'`).join(', ');
      throw new RangeError(`${where}: observer must be one of ${allowed}, got ${JSON.stringify(observer)}`);
    }
    this.observer = observer;
    const decay = args.emaDecay ?? 0.9;
    if (!(decay >= 0 && decay < 1)) {
      throw new RangeError(`${where}: emaDecay must be in [0, 1), got ${String(args.emaDecay)}`);
    }
    this.emaDecay = decay;
    this.isFrozen = args.frozen ?? false;
  }

  override build(): void {
    this.range = this.addWeight('range', [2], 'float32', initializers.zeros(), undefined, false);
    this.observedBatches = this.addWeight('observed_batches', [], 'float32', initializers.zeros(), undefined, false);
    this.built = true;
  }

  /** True while ranges are fixed. */
  get frozen(): boolean {
    return this.isFrozen;
  }

  /** Stop updating the range. */
  freeze(): void {
    this.isFrozen = true;
  }

  /** Resume updating the range from every forward. */
  unfreeze(): void {
    this.isFrozen = false;
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as Tensor) : inputs;
      const { range, count } = this.requireState();
      if (this.isFrozen) this.assertCalibrated();
      else this.observe(x, range, count);
      const current = range.read();
      return fakeQuantizeSTE(x, { min: slice(current, 0, 1), max: slice(current, 1, 1) }, this.spec);
    });
  }

  /** The current range `[min, max]` and the number of batches it was observed from. */
  rangeState(): { min: number; max: number; observedBatches: number } {
    const { range, count } = this.requireState();
    const [lo, hi] = range.read().dataSync();
    return { min: lo as number, max: hi as number, observedBatches: count.read().dataSync()[0] as number };
  }

  /**
   * Sets the range by hand (for example from another tool's calibration). Counts as
   * one observed batch if none was observed yet, so a frozen quantizer accepts it.
   */
  setRange(lo: number, hi: number): void {
    if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo <= hi)) {
      throw new RangeError(`ActivationQuantizer '${this.name}': setRange needs finite min <= max, got [${lo}, ${hi}]`);
    }
    const { range, count } = this.requireState();
    tidy(() => {
      range.write(tensor1d([lo, hi]));
      if (count.read().dataSync()[0] === 0) count.write(add(count.read(), 1));
    });
    this.rangeChecked = true;
  }

  override setWeights(weights: Tensor[]): void {
    super.setWeights(weights);
    this.rangeChecked = false;
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape | Shape[] {
    return inputShape;
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      bits: this.spec.bits,
      scheme: this.spec.scheme,
      observer: this.observer,
      emaDecay: this.emaDecay,
      frozen: this.isFrozen,
    };
  }

  private observe(x: Tensor, range: LayerVariable, count: LayerVariable): void {
    const batch = this.observer === 'mse' ? clippedBatchRange(x, this.spec) : stack([min(x), max(x)]);
    range.write(observeRange(this.observer, range.read(), batch, count.read(), this.emaDecay));
    count.write(add(count.read(), 1));
    this.rangeChecked = true;
  }

  private assertCalibrated(): void {
    if (this.rangeChecked) return;
    if (this.requireState().count.read().dataSync()[0] === 0) {
      throw new Error(
        `ActivationQuantizer '${this.name}' is frozen but has never observed a batch: ` +
          'calibrate it first (calibrateActivationRanges, or unfreeze and run batches) or call setRange',
      );
    }
    this.rangeChecked = true;
  }

  private requireState(): { range: LayerVariable; count: LayerVariable } {
    if (!this.range || !this.observedBatches) {
      throw new Error(`ActivationQuantizer '${this.name}' is used before it is built`);
    }
    return { range: this.range, count: this.observedBatches };
  }
}

// Candidates are scored on a strided sample: the error curve of a million activations
// is the same as that of 65,536 of them to well within the spacing of the candidates.
const MSE_SAMPLE = 65_536;

/** A batch's error-minimising range as a `[min, max]` tensor. */
function clippedBatchRange(x: Tensor, spec: QuantSpec): Tensor {
  return tidy(() => {
    const range = mseClipRange(x, spec, { sampleLimit: MSE_SAMPLE });
    return concat([reshape(range.min, [1]), reshape(range.max, [1])]);
  });
}
