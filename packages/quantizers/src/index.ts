/**
 * Uniform fake quantization for TensorFlow.js: the quantization math, a
 * straight-through estimator, range observers, quantized layer classes and
 * {@link quantizeModel}, which turns a float LayersModel into its fake-quantized twin.
 *
 * Importing this package registers the layer classes with tfjs serialization, so
 * saved quantized models load with the standard tfjs IO.
 * @packageDocumentation
 */
import './layers/register.js';

export { ActivationQuantizer, type ActivationQuantizerArgs } from './layers/activation_quantizer.js';
export type { BaseLayerArgs, ConvGeometry, ConvGeometryArgs, ConvPadding } from './layers/args.js';
export { QuantizedConv2D, type QuantizedConv2DArgs } from './layers/quantized_conv2d.js';
export { QuantizedDense, type QuantizedDenseArgs } from './layers/quantized_dense.js';
export {
  QuantizedDepthwiseConv2D,
  type QuantizedDepthwiseConv2DArgs,
} from './layers/quantized_depthwise_conv2d.js';
export {
  QuantizedWeightLayer,
  type QuantizedWeightLayerArgs,
  type WeightQuantArgs,
} from './layers/quantized_weight_layer.js';
export { type MseClipOptions, mseClipRange } from './math/clipping.js';
export { meanFidelity, perImageFidelity } from './math/fidelity.js';
export { fakeQuantizeLearnedStep } from './math/learned_step.js';
export { OBSERVER_KINDS, type ObserverKind, observeRange } from './math/observers.js';
export { type Range, rangeOver } from './math/ranges.js';
export { SoftRounding } from './math/soft_rounding.js';
export {
  integerRange,
  MAX_BITS,
  MIN_BITS,
  type QuantScheme,
  type QuantSpec,
  validateBits,
  validateScheme,
} from './math/spec.js';
export { fakeQuantizeSTE } from './math/ste.js';
export { dequantize, fakeQuantize, type QuantParams, quantize, quantParams } from './math/uniform.js';
export { recomputeBatchNormStatistics } from './model/batch_norm_statistics.js';
export { splitIntoBatches } from './model/batches.js';
export { type BiasCorrectionReport, correctBias } from './model/bias_correction.js';
export {
  activationQuantizers,
  type CalibrationOptions,
  calibrateActivationRanges,
  freezeActivationRanges,
  unfreezeActivationRanges,
  withFrozenActivationRanges,
} from './model/calibration.js';
export { copyWeightsByName } from './model/copy_weights.js';
export { QuantizationError } from './model/errors.js';
export { describeNonFinite, type NonFiniteWeight, nonFiniteWeights } from './model/finite_weights.js';
export { floatTopology } from './model/float_topology.js';
export { foldBatchNorm } from './model/fold_batch_norm.js';
export { QUANTIZED_CLASSES, QUANTIZED_TWINS } from './model/layer_kinds.js';
export { type NetworkEnds, networkEnds } from './model/network_ends.js';
export {
  type LayerQuantOverride,
  type QuantizeModelConfig,
  WEIGHT_RANGE_METHODS,
  type WeightRangeMethod,
} from './model/quantize_config.js';
export { quantizeModel, rewriteTopology } from './model/quantize_model.js';
export {
  type LayerReconstruction,
  RECONSTRUCTION_BATCH_SIZE,
  type ReconstructionReport,
  type RoundingReconstructionOptions,
  reconstructRounding,
} from './model/reconstruction.js';
export {
  largestUnitElements,
  RECONSTRUCTION_GRANULARITIES,
  type ReconstructionGranularity,
} from './model/reconstruction_units.js';
export {
  type QuantizerSensitivity,
  quantizerSensitivity,
  type SensitivityOptions,
} from './model/sensitivity.js';
export { elementsPerImage } from './model/shapes.js';
export { type FunctionalJson, functionalTopology, type LayerJson, type TensorRef } from './model/topology_json.js';
