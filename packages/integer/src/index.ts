/**
 * An integer-only reference forward for quantized models with BatchNorm folded:
 * integer weights, unsigned activations with zero points, exact int32 accumulators and
 * fixed-point requantization. It proves that an exported model is integer-deployable.
 * @packageDocumentation
 */
export { IntegerInferenceError } from './errors.js';
export { exactLinear, type LinearKind } from './exact_linear.js';
export { type FixedPoint, MULTIPLIER_BITS, roundHalfEven, toFixedPoint } from './fixed_point.js';
export { type Form, type OutputGrid, requantize, type Term } from './forms.js';
export type { IntTensor } from './int_tensor.js';
export { INTEGER_LAYERS, IntegerModel } from './integer_model.js';
