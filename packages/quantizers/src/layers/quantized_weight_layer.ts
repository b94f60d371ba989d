import {
  add,
  dispose,
  maximum,
  minimum,
  reshape,
  type serialization,
  sub,
  type Tensor,
  sum as tfSum,
  tidy,
} from '@tensorflow/tfjs-core';
import { initializers, type LayerVariable, layers, type Shape } from '@tensorflow/tfjs-layers';
import { mseClipRange } from '../math/clipping.js';
import { type Range, rangeOver } from '../math/ranges.js';
import { type QuantScheme, type QuantSpec, validateBits, validateScheme } from '../math/spec.js';
import { fakeQuantizeSTE } from '../math/ste.js';
import { fakeQuantize, type QuantParams, quantParams } from '../math/uniform.js';
import type { BaseLayerArgs } from './args.js';

/** Weight-quantization options shared by the quantized Conv2D, DepthwiseConv2D and Dense. */
export interface WeightQuantArgs {
  /** Weight bit width, 2 to 16. Default 8. */
  weightBits?: number;
  /** Default 'asymmetric' (as in Qimera). */
  weightScheme?: QuantScheme;
  /** One range per output channel (default, as in Qimera) or one for the whole kernel. */
  perChannel?: boolean;
  /**
   * The kernel is already on its k-bit grid, with the scale and zero point stored as
   * the non-trainable weights `kernel_scale` and `kernel_zero_point` (shaped to
   * broadcast against the kernel): the forward uses the kernel as it is. This is how
   * exported models load (see `@qimera/export`); such a layer is not trainable, since
   * updates would move the kernel off its grid. Default false.
   */
  kernelOnGrid?: boolean;
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
  readonly kernelOnGrid: boolean;
  protected kernel: LayerVariable | null = null;
  protected bias: LayerVariable | null = null;
  private gridScale: LayerVariable | null = null;
  private gridZeroPoint: LayerVariable | null = null;
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
    super(args.kernelOnGrid ? { ...args, trainable: false } : args);
    const where = `${this.getClassName()} '${this.name}'`;
    this.weightSpec = {
      bits: validateBits(args.weightBits ?? 8, `${where} weightBits`),
      scheme: validateScheme(args.weightScheme ?? 'asymmetric', `${where} weightScheme`),
    };
    this.perChannel = args.perChannel ?? true;
    this.activation = args.activation ?? 'linear';
    this.useBias = args.useBias ?? true;
    this.kernelOnGrid = args.kernelOnGrid ?? false;
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
    if (this.kernelOnGrid) {
      const paramShape = this.kernelShape(shape).map((size, axis) =>
        this.perChannel && this.channelAxes.includes(axis) ? size : 1,
      );
      const constant = (name: string, value: number) =>
        this.addWeight(name, paramShape, 'float32', initializers.constant({ value }), undefined, false);
      this.gridScale = constant('kernel_scale', 1);
      this.gridZeroPoint = constant('kernel_zero_point', 0);
    }
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as Tensor) : inputs;
      const master = this.requireKernel().read();
      const kernel = this.kernelOnGrid ? master : fakeQuantizeSTE(master, (k) => this.kernelRange(k), this.weightSpec);
      return this.applyKernel(x, kernel);
    });
  }

  /**
   * The layer's forward (linear map, bias, fused activation) with `kernel` in place of
   * its own, used as given: for searching a kernel (see `reconstructRounding`).
   */
  applyKernel(x: Tensor, kernel: Tensor): Tensor {
    return tidy(() => {
      let y = this.linear(x, kernel);
      if (this.bias) y = add(y, this.bias.read());
      return this.activationLayer.apply(y) as Tensor;
    });
  }

  /** The kernel variable (the float master copy, or the grid values when `kernelOnGrid`). */
  get kernelWeight(): LayerVariable {
    return this.requireKernel();
  }

  /** The kernel as the forward uses it: float32 values on the k-bit grid. */
  quantizedKernel(): Tensor {
    return tidy(() => {
      const kernel = this.requireKernel().read();
      return this.kernelOnGrid ? kernel.clone() : fakeQuantize(kernel, this.kernelRange(kernel), this.weightSpec);
    });
  }

  /**
   * Scale and zero point of the kernel's grid, shaped to broadcast against the kernel:
   * from the current kernel's ranges, or the stored ones of a `kernelOnGrid` layer.
   * `quantize(kernel, kernelQuantParams(), weightSpec)` gives the integer kernel.
   */
  kernelQuantParams(): QuantParams {
    if (this.gridScale && this.gridZeroPoint) {
      return { scale: this.gridScale.read().clone(), zeroPoint: this.gridZeroPoint.read().clone() };
    }
    const range = this.kernelRange(this.requireKernel().read());
    try {
      return quantParams(range, this.weightSpec);
    } finally {
      dispose([range.min, range.max]);
    }
  }

  /** The range each kernel element is quantized with (per channel or per tensor). */
  kernelRange(kernel: Tensor): Range {
    return rangeOver(kernel, this.perChannel ? this.channelAxes : []);
  }

  /**
   * Clips the float kernel, per output channel (or as a whole when not per channel), to
   * the range whose quantization error is smallest (see `mseClipRange`). The kernel's
   * own min/max range then is that range, so the forward, the export and the integer
   * model all quantize with it; values beyond it, which the grid would clamp anyway,
   * are clamped in the master copy too.
   * @throws on a `kernelOnGrid` layer, whose kernel must stay on its stored grid.
   */
  clipKernelByMse(candidates = 100): void {
    if (this.kernelOnGrid) {
      throw new Error(`${this.getClassName()} '${this.name}': a kernelOnGrid kernel cannot be clipped`);
    }
    const kernel = this.requireKernel();
    tidy(() => {
      const value = kernel.read();
      const range = mseClipRange(value, this.weightSpec, {
        keepAxes: this.perChannel ? this.channelAxes : [],
        candidates,
      });
      kernel.write(minimum(maximum(value, range.min), range.max));
    });
  }

  /**
   * Per output channel, the sum over `x`'s samples and positions of
   * `linear(x, referenceKernel) - linear(x, quantizedKernel)`: how far quantizing the
   * kernel moves the layer's pre-activation output on these inputs (divide by the
   * count of positions for the mean), for bias correction.
   * @returns `{ sum: [channels], positions }`.
   */
  quantizationShift(x: Tensor, referenceKernel: Tensor): { sum: Tensor; positions: number } {
    return tidy(() => {
      // The map is linear in the kernel: one pass with the kernels' difference.
      const difference = this.linear(x, sub(referenceKernel, this.quantizedKernel()));
      const channels = difference.shape[difference.rank - 1] as number;
      const flat = reshape(difference, [-1, channels]);
      return { sum: tfSum(flat, 0), positions: flat.shape[0] as number };
    });
  }

  /** Adds `shift` (one value per output channel) to the bias. @throws if the layer has none. */
  addToBias(shift: Tensor): void {
    if (!this.bias) throw new Error(`${this.getClassName()} '${this.name}' has no bias`);
    const bias = this.bias;
    tidy(() => {
      bias.write(add(bias.read(), shift));
    });
  }

  override getConfig(): serialization.ConfigDict {
    return {
      ...super.getConfig(),
      weightBits: this.weightSpec.bits,
      weightScheme: this.weightSpec.scheme,
      perChannel: this.perChannel,
      activation: this.activation,
      useBias: this.useBias,
      kernelOnGrid: this.kernelOnGrid,
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
