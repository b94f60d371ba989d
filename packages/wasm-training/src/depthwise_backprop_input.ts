import {
  backend_util,
  DepthwiseConv2dNativeBackpropInput,
  type DepthwiseConv2dNativeBackpropInputAttrs,
  type DepthwiseConv2dNativeBackpropInputInputs,
  depthwiseConv2d,
  type KernelConfig,
  reshape,
  reverse,
  sum,
  type Tensor4D,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { composeKernel } from './kernel_io.js';
import { spreadOutputGradient } from './spatial.js';

/**
 * The input gradient of a depthwise convolution is a depthwise convolution of dy
 * (zero-stuffed by the stride, padded so every input pixel is reached) with the
 * spatially reversed filter, each of the C·M channels on its own, then summed over
 * the multiplier. One XNNPACK depthwise convolution.
 */
export const depthwiseConv2dBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as DepthwiseConv2dNativeBackpropInputInputs;
    const { strides, dilations, pad, dimRoundingMode, inputShape } =
      attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
    const filterShape = (filter as TensorInfo).shape as [number, number, number, number];
    const info = backend_util.computeConv2DInfo(
      inputShape,
      filterShape,
      strides,
      dilations,
      pad,
      dimRoundingMode,
      true,
    );
    const [kh, kw, channels, multiplier] = filterShape;
    const [batch, height, width] = inputShape;
    return composeKernel(backend, [dy as TensorInfo, filter as TensorInfo], (dyt, f) => {
      const { cropped, padding } = spreadOutputGradient(dyt as Tensor4D, info);
      const flipped = reshape(reverse(f, [0, 1]), [kh, kw, channels * multiplier, 1]) as Tensor4D;
      const perChannel = depthwiseConv2d(cropped, flipped, 1, padding, 'NHWC', [
        info.dilationHeight,
        info.dilationWidth,
      ]);
      if (multiplier === 1) return perChannel;
      return sum(reshape(perChannel, [batch, height, width, channels, multiplier]), 4);
    });
  },
};
