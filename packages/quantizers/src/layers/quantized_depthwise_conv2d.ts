import { depthwiseConv2d, type serialization, type Tensor4D } from '@tensorflow/tfjs-core';
import type { Shape } from '@tensorflow/tfjs-layers';
import { type ConvGeometry, type ConvGeometryArgs, convGeometry, convOutputShape, positiveInt } from './args.js';
import {
  channelsOf,
  QuantizedWeightLayer,
  type QuantizedWeightLayerArgs,
  singleShape,
} from './quantized_weight_layer.js';

/** Options of {@link QuantizedDepthwiseConv2D}: those of tfjs-layers' DepthwiseConv2D plus weight quantization. */
export interface QuantizedDepthwiseConv2DArgs extends QuantizedWeightLayerArgs, ConvGeometryArgs {
  /** Output channels per input channel. Default 1. */
  depthMultiplier?: number;
}

/**
 * DepthwiseConv2D (NHWC) with a kernel `[kh, kw, in, multiplier]` fake-quantized per
 * output channel, i.e. per (input channel, multiplier) pair.
 */
export class QuantizedDepthwiseConv2D extends QuantizedWeightLayer {
  static className = 'QuantizedDepthwiseConv2D';
  readonly depthMultiplier: number;
  readonly geometry: ConvGeometry;
  protected readonly kernelName = 'depthwise_kernel';
  protected readonly channelAxes = [2, 3];

  constructor(args: QuantizedDepthwiseConv2DArgs) {
    super(args);
    const where = `QuantizedDepthwiseConv2D '${this.name}'`;
    this.geometry = convGeometry(args, where);
    this.depthMultiplier = positiveInt(args.depthMultiplier ?? 1, where, 'depthMultiplier');
    const strided = this.geometry.strides.some((s) => s > 1);
    const dilated = this.geometry.dilationRate.some((d) => d > 1);
    if (strided && dilated) {
      throw new RangeError(`${where}: strides > 1 and dilationRate > 1 cannot be combined (tfjs limitation)`);
    }
  }

  protected kernelShape(inputShape: Shape): number[] {
    return [...this.geometry.kernelSize, channelsOf(inputShape, this.name), this.depthMultiplier];
  }

  protected outputChannels(inputShape: Shape): number {
    return channelsOf(inputShape, this.name) * this.depthMultiplier;
  }

  protected linear(x: Tensor4D, kernel: Tensor4D): Tensor4D {
    const { strides, padding, dilationRate } = this.geometry;
    return depthwiseConv2d(x, kernel, strides, padding, 'NHWC', dilationRate);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    return convOutputShape(shape, this.geometry, this.outputChannels(shape));
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      depthMultiplier: this.depthMultiplier,
      ...this.geometry,
      dataFormat: 'channelsLast',
    };
  }
}
