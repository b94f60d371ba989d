import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropFilterInputs,
  conv2d,
  type KernelConfig,
  type Tensor4D,
  type TensorInfo,
  transpose,
} from '@tensorflow/tfjs-core';
import { composeKernel } from './kernel_io.js';
import { convolutionWindow } from './spatial.js';

/**
 * dW[kh, kw, ci, co] = Σ_{n, oh, ow} xpad[n, oh·sh + kh, ow·sw + kw, ci] · dy[n, oh, ow, co]
 * is itself a convolution: with the batch axis as channels, the padded input
 * `[ci, H, W, n]` convolved with dy as filter `[oh, ow, n, co]`, dilated by the forward
 * stride, gives `[ci, kh, kw, co]`. One XNNPACK convolution plus three transposes.
 */
export const conv2DBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as Conv2DBackpropFilterInputs;
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
    if (dataFormat !== 'NHWC') {
      throw new Error(`Conv2DBackpropFilter (@qimera/wasm-training): only NHWC is supported, got ${dataFormat}`);
    }
    const info = backend_util.computeConv2DInfo(
      (x as TensorInfo).shape as [number, number, number, number],
      filterShape,
      strides,
      1,
      pad,
      dimRoundingMode,
    );
    return composeKernel(backend, [x as TensorInfo, dy as TensorInfo], (xt, dyt) => {
      const xpad = convolutionWindow(xt as Tensor4D, info);
      const grad = conv2d(transpose(xpad, [3, 1, 2, 0]), transpose(dyt as Tensor4D, [1, 2, 0, 3]), 1, 'valid', 'NHWC', [
        info.strideHeight,
        info.strideWidth,
      ]);
      return transpose(grad, [1, 2, 0, 3]);
    });
  },
};
