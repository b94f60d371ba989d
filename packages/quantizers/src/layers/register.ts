// The one module with side effects: registering the layer classes lets tfjs
// deserialize saved quantized models (tf.loadLayersModel, modelFromJSON).
import { serialization } from '@tensorflow/tfjs-core';
import { ActivationQuantizer } from './activation_quantizer.js';
import { QuantizedConv2D } from './quantized_conv2d.js';
import { QuantizedDense } from './quantized_dense.js';
import { QuantizedDepthwiseConv2D } from './quantized_depthwise_conv2d.js';

for (const cls of [QuantizedConv2D, QuantizedDepthwiseConv2D, QuantizedDense, ActivationQuantizer]) {
  serialization.registerClass(cls);
}
