import { conv2d, type serialization, type Tensor4D } from '@tensorflow/tfjs-core';
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

/** Options of {@link QuantizedConv2D}: those of tfjs-layers' Conv2D plus weight quantization. */
export interface QuantizedConv2DArgs extends QuantizedWeightLayerArgs {
  filters: number;
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  padding?: ConvPadding;
  dilationRate?: number | [number, number];
  /** Only 'channelsLast' (NHWC). */
  dataFormat?: string;
}

/** Conv2D (NHWC) with a kernel fake-quantized per output channel. */
export class QuantizedConv2D extends QuantizedWeightLayer {
  static className = 'QuantizedConv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: ConvPadding;
  readonly dilationRate: [number, number];
  protected readonly kernelName = 'kernel';
  protected readonly channelAxes = [3];

  constructor(args: QuantizedConv2DArgs) {
    super(args);
    const where = `QuantizedConv2D '${this.name}'`;
    assertChannelsLast(args.dataFormat, where);
    this.filters = positiveInt(args.filters, where, 'filters');
    this.kernelSize = positivePair(args.kernelSize, 1, where, 'kernelSize');
    this.strides = positivePair(args.strides, 1, where, 'strides');
    this.padding = convPadding(args.padding, where);
    this.dilationRate = positivePair(args.dilationRate, 1, where, 'dilationRate');
  }

  protected kernelShape(inputShape: Shape): number[] {
    return [...this.kernelSize, channelsOf(inputShape, this.name), this.filters];
  }

  protected outputChannels(): number {
    return this.filters;
  }

  protected linear(x: Tensor4D, kernel: Tensor4D): Tensor4D {
    return conv2d(x, kernel, this.strides, this.padding, 'NHWC', this.dilationRate);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const shape = singleShape(inputShape);
    return [
      shape[0] ?? null,
      ...([0, 1] as const).map((i) =>
        convOutputLength(shape[i + 1] ?? null, this.kernelSize[i], this.strides[i], this.dilationRate[i], this.padding),
      ),
      this.filters,
    ];
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      dilationRate: this.dilationRate,
      dataFormat: 'channelsLast',
    };
  }
}
