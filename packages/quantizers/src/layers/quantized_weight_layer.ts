import { add, type serialization, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { initializers, type LayerVariable, layers, type Shape } from '@tensorflow/tfjs-layers';
import { type Range, rangeOver } from '../math/ranges.js';
import { type QuantScheme, type QuantSpec, validateBits, validateScheme } from '../math/spec.js';
import { fakeQuantizeSTE } from '../math/ste.js';
import { fakeQuantize } from '../math/uniform.js';
import type { BaseLayerArgs } from './args.js';

/** Weight-quantization options shared by the quantized Conv2D, DepthwiseConv2D and Dense. */
export interface WeightQuantArgs {
  /** Weight bit width, 2 to 16. Default 8. */
  weightBits?: number;
  /** Default 'asymmetric' (as in Qimera). */
  weightScheme?: QuantScheme;
  /** One range per output channel (default, as in Qimera) or one for the whole kernel. */
  perChannel?: boolean;
}

/** Options every quantized weight layer takes. */
export interface QuantizedWeightLayerArgs extends BaseLayerArgs, WeightQuantArgs {
  /** Fused activation, any tfjs-layers activation name. Default 'linear'. */
  activation?: string;
  /** Default true. */
  useBias?: boolean;
}

/**
 * A layer whose kernel is fake-quantized at every forward: the float kernel is the
 * trainable master copy; the forward uses it rounded to the k-bit grid, with ranges
 * from the current kernel (per output channel by default) and a straight-through
 * gradient. The bias stays float; the fused activation runs after the bias.
 */
export abstract class QuantizedWeightLayer extends layers.Layer {
  readonly weightSpec: QuantSpec;
  readonly perChannel: boolean;
  readonly activation: string;
  readonly useBias: boolean;
  protected kernel: LayerVariable | null = null;
  protected bias: LayerVariable | null = null;
  private readonly activationLayer: layers.Layer;

  /** The kernel's weight name, as the float layer it replaces names it. */
  protected abstract readonly kernelName: string;
  /** Axes of the kernel that index output channels (kept when ranges are taken). */
  protected abstract readonly channelAxes: readonly number[];
  protected abstract kernelShape(inputShape: Shape): number[];
  protected abstract outputChannels(inputShape: Shape): number;
  /** The layer's linear map (convolution or matrix product) without bias. */
  protected abstract linear(x: Tensor, kernel: Tensor): Tensor;

  constructor(args: QuantizedWeightLayerArgs) {
    super(args);
    const where = `${this.getClassName()} '${this.name}'`;
    this.weightSpec = {
      bits: validateBits(args.weightBits ?? 8, `${where} weightBits`),
      scheme: validateScheme(args.weightScheme ?? 'asymmetric', `${where} weightScheme`),
    };
    this.perChannel = args.perChannel ?? true;
    this.activation = args.activation ?? 'linear';
    this.useBias = args.useBias ?? true;
    // Reuses tfjs-layers' own activation functions; the explicit name keeps the global
    // layer-name counters (and so users' auto-generated names) untouched.
    this.activationLayer = layers.activation({
      activation: this.activation as never,
      name: `${this.name}_activation`,
    });
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = singleShape(inputShape);
    this.kernel = this.addWeight(this.kernelName, this.kernelShape(shape), 'float32', initializers.glorotUniform({}));
    if (this.useBias) {
      this.bias = this.addWeight('bias', [this.outputChannels(shape)], 'float32', initializers.zeros());
    }
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as Tensor) : inputs;
      const kernel = fakeQuantizeSTE(this.requireKernel().read(), (k) => this.kernelRange(k), this.weightSpec);
      let y = this.linear(x, kernel);
      if (this.bias) y = add(y, this.bias.read());
      return this.activationLayer.apply(y) as Tensor;
    });
  }

  /** The kernel as the forward uses it: float32 values on the k-bit grid. */
  quantizedKernel(): Tensor {
    return tidy(() => {
      const kernel = this.requireKernel().read();
      return fakeQuantize(kernel, this.kernelRange(kernel), this.weightSpec);
    });
  }

  /** The range each kernel element is quantized with (per channel or per tensor). */
  kernelRange(kernel: Tensor): Range {
    return rangeOver(kernel, this.perChannel ? this.channelAxes : []);
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      weightBits: this.weightSpec.bits,
      weightScheme: this.weightSpec.scheme,
      perChannel: this.perChannel,
      activation: this.activation,
      useBias: this.useBias,
    };
  }

  private requireKernel(): LayerVariable {
    if (!this.kernel) throw new Error(`${this.getClassName()} '${this.name}' is used before it is built`);
    return this.kernel;
  }
}

/** The one input shape of a single-input layer. */
export function singleShape(inputShape: Shape | Shape[]): Shape {
  const first = inputShape[0];
  return Array.isArray(first) ? (first as Shape) : (inputShape as Shape);
}

/** The channel count (last dimension) of an input shape, which must be known. */
export function channelsOf(shape: Shape, layer: string): number {
  const channels = shape[shape.length - 1];
  if (channels == null) throw new Error(`${layer}: the last (channel) dimension of the input must be known`);
  return channels;
}
