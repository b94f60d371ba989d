/** Float layer classes that get a quantized twin, and the twin's class name. */
export const QUANTIZED_TWINS: Readonly<Record<string, string>> = {
  Conv2D: 'QuantizedConv2D',
  DepthwiseConv2D: 'QuantizedDepthwiseConv2D',
  Dense: 'QuantizedDense',
};

/**
 * Layers copied unchanged: they hold no weights to quantize, or (BatchNormalization)
 * stay in float by design. Anything not listed here or above is refused by name, so
 * no layer with weights is ever silently left unquantized.
 */
export const FLOAT_LAYERS: ReadonlySet<string> = new Set([
  'InputLayer',
  'BatchNormalization',
  'ReLU',
  'Activation',
  'Softmax',
  'LeakyReLU',
  'ELU',
  'ThresholdedReLU',
  'ZeroPadding2D',
  'Cropping2D',
  'UpSampling2D',
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'Flatten',
  'Reshape',
  'Permute',
  'Dropout',
  'SpatialDropout1D',
  'GaussianNoise',
  'GaussianDropout',
  'AlphaDropout',
  'Add',
  'Subtract',
  'Multiply',
  'Average',
  'Maximum',
  'Minimum',
  'Concatenate',
]);

/** Our own classes: a model holding them is already quantized. */
export const QUANTIZED_CLASSES: ReadonlySet<string> = new Set([
  ...Object.values(QUANTIZED_TWINS),
  'ActivationQuantizer',
]);

/** Whether a layer's output is a ReLU / ReLU6 (standalone, Activation, or fused). */
export function endsInRelu(className: string, config: Record<string, unknown>): boolean {
  if (className === 'ReLU') return true;
  if (className === 'Activation' || className in QUANTIZED_TWINS) {
    return config.activation === 'relu' || config.activation === 'relu6';
  }
  return false;
}
