import {
  backend_util,
  DepthwiseConv2dNativeBackpropFilter,
  type DepthwiseConv2dNativeBackpropFilterAttrs,
  type DepthwiseConv2dNativeBackpropFilterInputs,
  expandDims,
  type KernelConfig,
  mul,
  reshape,
  stack,
  stridedSlice,
  sum,
  type Tensor,
  type Tensor4D,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { composeKernel } from './kernel_io.js';
import { convolutionWindow, padOrCrop } from './spatial.js';

/**
 * dW[kh, kw, c, m] = Σ_{n, oh, ow} xpad[n, oh·sh + kh·dh, ow·sw + kw·dw, c] · dy[n, oh, ow, c·M + m]:
 * per filter tap, one strided slice of the padded input times dy, summed over batch and
 * space (all wasm kernels; a depthwise layer's taps are few).
 */
export const depthwiseConv2dBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as DepthwiseConv2dNativeBackpropFilterInputs;
    const { strides, dilations, pad, dimRoundingMode, filterShape } =
      attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
    const info = backend_util.computeConv2DInfo(
      (x as TensorInfo).shape as [number, number, number, number],
      filterShape,
      strides,
      dilations,
      pad,
      dimRoundingMode,
      true,
    );
    const [kh, kw, channels, multiplier] = filterShape;
    return composeKernel(backend, [x as TensorInfo, dy as TensorInfo], (xt, dyt) => {
      const { outHeight, outWidth, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
      const xpad = padOrCrop(xt as Tensor4D, convolutionWindow(info));
      const batch = xpad.shape[0];
      const dy5 = reshape(dyt, [batch, outHeight, outWidth, channels, multiplier]);
      const taps: Tensor[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const patch = stridedSlice(
            xpad,
            [0, i * dh, j * dw, 0],
            [batch, i * dh + (outHeight - 1) * sh + 1, j * dw + (outWidth - 1) * sw + 1, channels],
            [1, sh, sw, 1],
          );
          taps.push(sum(mul(expandDims(patch, 4), dy5), [0, 1, 2]));
        }
      }
      return reshape(stack(taps), filterShape);
    });
  },
};
