import type { ObserverKind } from '../math/observers.js';
import type { QuantScheme } from '../math/spec.js';

/** How {@link QuantizeModelConfig.weightRange} picks kernel ranges. */
export type WeightRangeMethod = 'minmax' | 'mse';
/** Every {@link WeightRangeMethod}. */
export const WEIGHT_RANGE_METHODS: readonly WeightRangeMethod[] = ['minmax', 'mse'];

/** Per-layer settings in {@link QuantizeModelConfig.layers}, keyed by layer name. */
export interface LayerQuantOverride {
  /** Weight bits for this Conv2D / DepthwiseConv2D / Dense. */
  weightBits?: number;
  /** Activation bits after this ReLU, or after this layer's fused ReLU. */
  activationBits?: number;
  /** Leave the layer in float: no weight quantization, no quantizer after its ReLU. */
  skip?: boolean;
}

/** What {@link quantizeModel} does. Only the two bit widths are required. */
export interface QuantizeModelConfig {
  /** Bits of every Conv2D / DepthwiseConv2D / Dense kernel (2 to 16). */
  weightBits: number;
  /** Bits of the activation quantizer after every ReLU / ReLU6 (2 to 16). */
  activationBits: number;
  /** Default 'asymmetric'. */
  weightScheme?: QuantScheme;
  /** Ranges per output channel (default true) or per kernel. */
  perChannelWeights?: boolean;
  /**
   * How kernel ranges are chosen: `'minmax'` (the kernel's extremes, as in Qimera) or
   * `'mse'` (the clipped range with the smallest quantization error, searched per
   * channel; the float kernel is clipped to it, see `QuantizedWeightLayer.clipKernelByMse`).
   * Default 'minmax'.
   */
  weightRange?: WeightRangeMethod;
  /** Default 'asymmetric'. */
  activationScheme?: QuantScheme;
  /** Default 'ema' (bias-corrected, decay {@link QuantizeModelConfig.emaDecay}). */
  activationObserver?: ObserverKind;
  /** Default 0.9. */
  emaDecay?: number;
  /**
   * Also quantize the network input with an {@link ActivationQuantizer} of this many
   * bits (8 makes the model integer-only, as integer inference needs). Default: the
   * input stays float, as in Qimera.
   */
  inputBits?: number;
  /**
   * Fold every BatchNormalization into the Conv2D / DepthwiseConv2D / Dense before it
   * (see {@link foldBatchNorm}) before quantizing, so the quantized model has no BN, as
   * integer inference engines require. Default false (Qimera keeps BN in float).
   */
  foldBatchNorm?: boolean;
  /**
   * Bits of the network's two ends, kept wider than the rest: the kernels of the first
   * layers (those reading the input through weightless layers) and the activation
   * quantizer after them, and the kernels of the last layers (those whose output is the
   * model's) and the activation quantizer before them (see {@link networkEnds}). 8 is the
   * convention behind most published W4A4 figures (AdaRound, BRECQ, QDrop, Genie keep
   * first and last layers at 8 bits); the first layer's output is included because 4
   * bits there cost a 224x224 MobileNetV2 most of its fidelity (docs/benchmarks.md).
   * Default: the ends get {@link QuantizeModelConfig.weightBits} and
   * {@link QuantizeModelConfig.activationBits} like every layer, as in Qimera.
   * Entries of {@link QuantizeModelConfig.layers} take precedence.
   */
  firstLastBits?: number;
  /** Overrides by layer name; every name must exist and fit the override. */
  layers?: Record<string, LayerQuantOverride>;
}
