import { matMul, reshape, type serialization, type Tensor, type Tensor2D } from '@tensorflow/tfjs-core';
import type { Shape } from '@tensorflow/tfjs-layers';
import { positiveInt } from './args.js';
import {
  channelsOf,
  QuantizedWeightLayer,
  type QuantizedWeightLayerArgs,
  singleShape,
} from './quantized_weight_layer.js';

/** Options of {@link QuantizedDense}: those of tfjs-layers' Dense plus weight quantization. */
export interface QuantizedDenseArgs extends QuantizedWeightLayerArgs {
  units: number;
}

/**
 * Dense with a kernel `[in, units]` fake-quantized per output unit. Like Dense, inputs
 * of rank > 2 are multiplied along their last axis.
 */
export class QuantizedDense extends QuantizedWeightLayer {
  static className = 'QuantizedDense';
  readonly units: number;
  protected readonly kernelName = 'kernel';
  protected readonly channelAxes = [1];

  constructor(args: QuantizedDenseArgs) {
    super(args);
    this.units = positiveInt(args.units, `QuantizedDense '${this.name}'`, 'units');
  }

  protected kernelShape(inputShape: Shape): number[] {
    return [channelsOf(inputShape, this.name), this.units];
  }

  protected outputChannels(): number {
    return this.units;
  }

  protected linear(x: Tensor, kernel: Tensor2D): Tensor {
    if (x.rank === 2) return matMul(x as Tensor2D, kernel);
    const leading = x.shape.slice(0, -1);
    const flat = reshape(x, [-1, x.shape[x.rank - 1] as number]) as Tensor2D;
    return reshape(matMul(flat, kernel), [...leading, this.units]);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return [...singleShape(inputShape).slice(0, -1), this.units];
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units };
  }
}
