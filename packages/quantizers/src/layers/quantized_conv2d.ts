import { conv2d, type serialization, type Tensor4D } from '@tensorflow/tfjs-core';
import type { Shape } from '@tensorflow/tfjs-layers';
import { type ConvGeometry, type ConvGeometryArgs, convGeometry, convOutputShape, positiveInt } from './args.js';
import {
  channelsOf,
  QuantizedWeightLayer,
  type QuantizedWeightLayerArgs,
  singleShape,
} from './quantized_weight_layer.js';

/** Options of {@link QuantizedConv2D}: those of tfjs-layers' Conv2D plus weight quantization. */
export interface QuantizedConv2DArgs extends QuantizedWeightLayerArgs, ConvGeometryArgs {
  filters: number;
}

/** Conv2D (NHWC) with a kernel fake-quantized per output channel. */
export class QuantizedConv2D extends QuantizedWeightLayer {
  static className = 'QuantizedConv2D';
  readonly filters: number;
  readonly geometry: ConvGeometry;
  protected readonly kernelName = 'kernel';
  protected readonly channelAxes = [3];

  constructor(args: QuantizedConv2DArgs) {
    super(args);
    const where = `QuantizedConv2D '${this.name}'`;
    this.geometry = convGeometry(args, where);
    this.filters = positiveInt(args.filters, where, 'filters');
  }

  protected kernelShape(inputShape: Shape): number[] {
    return [...this.geometry.kernelSize, channelsOf(inputShape, this.name), this.filters];
  }

  protected outputChannels(): number {
    return this.filters;
  }

  protected linear(x: Tensor4D, kernel: Tensor4D): Tensor4D {
    const { strides, padding, dilationRate } = this.geometry;
    return conv2d(x, kernel, strides, padding, 'NHWC', dilationRate);
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return convOutputShape(singleShape(inputShape), this.geometry, this.filters);
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), filters: this.filters, ...this.geometry, dataFormat: 'channelsLast' };
  }
}
