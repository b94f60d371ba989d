import { depthwiseConv2d, type serialization, type Tensor4D } from '@tensorflow/tfjs-core';
import type { Shape } from '@tensorflow/tfjs-layers';
import {
  assertChannelsLast,
  type ConvPadding,
  convOutputLength,
  convPadding,
  positiveInt,
  positivePair,
} from './args.js';
import {
  channelsOf,
  QuantizedWeightLayer,
  type QuantizedWeightLayerArgs,
  singleShape,
} from './quantized_weight_layer.js';

/** Options of {@link QuantizedDepthwiseConv2D}: those of tfjs-layers' DepthwiseConv2D plus weight quantization. */
export interface QuantizedDepthwiseConv2DArgs extends QuantizedWeightLayerArgs {
  kernelSize: number | [number, number];
  /** Output channels per input channel. Default 1. */
  depthMultiplier?: number;
  strides?: number | [number, number];
  padding?: ConvPadding;
  dilationRate?: number | [number, number];
  /** Only 'channelsLast' (NHWC). */
  dataFormat?: string;
}

/**
 * DepthwiseConv2D (NHWC) with a kernel `[kh, kw, in, multiplier]` fake-quantized per
 * output channel, i.e. per (input channel, multiplier) pair.
 */
export class QuantizedDepthwiseConv2D extends QuantizedWeightLayer {
  static className = 'QuantizedDepthwiseConv2D';
  readonly kernelSize: [number, number];
  readonly depthMultiplier: number;
  readonly strides: [number, number];
  readonly padding: ConvPadding;
  readonly dilationRate: [number, number];
  protected readonly kernelName = 'depthwise_kernel';
  protected readonly channelAxes = [2, 3];

  constructor(args: QuantizedDepthwiseConv2DArgs) {
    super(args);
    const where = `QuantizedDepthwiseConv2D '${this.name}'`;
    assertChannelsLast(args.dataFormat, where);
    this.kernelSize = positivePair(args.kernelSize, 1, where, 'kernelSize');
    this.depthMultiplier = positiveInt(args.depthMultiplier ?? 1, where, 'depthMultiplier');
    this.strides = positivePair(args.strides, 1, where, 'strides');
    this.padding = convPadding(args.padding, where);
    this.dilationRate = positivePair(args.dilationRate, 1, where, 'dilationRate');
    const strided = this.strides.some((s) => s > 1);
    const dilated = this.dilationRate.some((d) => d > 1);
    if (strided && dilated) {
      throw new RangeError(`${where}: strides > 1 and dilationRate > 1 cannot be combined (tfjs limitation)`);
    }
  }

  protected kernelShape(inputShape: Shape): number[] {
    return [...this.kernelSize, channelsOf(inputShape, this.name), this.depthMultiplier];
  }

  protected outputChannels(inputShape: Shape): number {
    return channelsOf(inputShape, this.name) * this.depthMultiplier;
  }

  protected linear(x: Tensor4D, kernel: Tensor4D): Tensor4D {
    return depthwiseConv2d(x, kernel, this.strides, this.padding, 'NHWC', this.dilationRate);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    return [
      shape[0] ?? null,
      ...([0, 1] as const).map((i) =>
        convOutputLength(shape[i + 1] ?? null, this.kernelSize[i], this.strides[i], this.dilationRate[i], this.padding),
      ),
      this.outputChannels(shape),
    ];
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      kernelSize: this.kernelSize,
      depthMultiplier: this.depthMultiplier,
      strides: this.strides,
      padding: this.padding,
      dilationRate: this.dilationRate,
      dataFormat: 'channelsLast',
    };
  }
}
