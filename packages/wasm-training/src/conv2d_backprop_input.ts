import {
  backend_util,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type Conv2DBackpropInputInputs,
  conv2d,
  type KernelConfig,
  reverse,
  type Tensor4D,
  type TensorInfo,
  transpose,
} from '@tensorflow/tfjs-core';
import { withFastPath } from './fast_path.js';
import { composeKernel } from './kernel_io.js';
import { spreadOutputGradient } from './spatial.js';

/**
 * dx is a stride-1 convolution of dy (zero-stuffed by the forward stride, padded so
 * every input pixel is reached) with the filter reversed in space and its in/out
 * channels swapped: one XNNPACK convolution. Replaces tfjs-wasm's own kernel, a
 * direct loop that is the slowest part of a wasm training step; NCHW data goes to it.
 */
export function fasterConv2DBackpropInputConfig(): KernelConfig {
  return withFastPath(Conv2DBackpropInput, ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as Conv2DBackpropInputInputs;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
    if (dataFormat !== 'NHWC') return null;
    const filterShape = (filter as TensorInfo).shape as [number, number, number, number];
    const info = backend_util.computeConv2DInfo(inputShape, filterShape, strides, 1, pad, dimRoundingMode);
    return composeKernel(backend, [dy as TensorInfo, filter as TensorInfo], (dyt, f) => {
      const flipped = transpose(reverse(f, [0, 1]), [0, 1, 3, 2]) as Tensor4D;
      return conv2d(spreadOutputGradient(dyt as Tensor4D, info), flipped, 1, 'valid', 'NHWC');
    });
  });
}
