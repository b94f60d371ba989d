import {
  backend_util,
  Conv2DBackpropFilter,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropFilterInputs,
  conv2d,
  type KernelConfig,
  reshape,
  type Tensor4D,
  type TensorInfo,
  transpose,
} from '@tensorflow/tfjs-core';
import { composeKernel } from './kernel_io.js';
import { convolutionWindow, cropForPaddedConv } from './spatial.js';

/**
 * How many input channels share one image of the filter-gradient convolution: the
 * fewest (1, 2 or 4, dividing `inChannels`) that give each image a multiple of 4 output
 * pixels (`taps` per channel), else the most that divide `inChannels`.
 *
 * Why: XNNPACK's convolution computes the output pixels of one image in tiles of 4 (its
 * wasm SIMD micro-kernel on x86; 6 on Arm, which 36 also fills), and a short last tile
 * costs a whole one. A 3x3 filter gradient with one channel per image has 9 output
 * pixels, 3 tiles for 9 pixels; 4 channels per image make 36 pixels in 9 full tiles.
 * Measured on the ResNet-20 and generator shapes: 1.17x to 1.46x faster than one
 * channel per image, results identical.
 */
export function channelsPerImage(inChannels: number, taps: number): number {
  const dividing = [1, 2, 4].filter((g) => inChannels % g === 0);
  return dividing.find((g) => (taps * g) % 4 === 0) ?? (dividing.at(-1) as number);
}

/**
 * dW[kh, kw, ci, co] = Σ_{n, oh, ow} xpad[n, oh·sh + kh, ow·sw + kw, ci] · dy[n, oh, ow, co]
 * is itself a convolution: with the batch axis as channels, the padded input
 * `[ci, H, W, n]` convolved with dy as filter `[oh, ow, n, co]`, dilated by the forward
 * stride, gives `[ci, kh, kw, co]`. To fill XNNPACK's tiles (`channelsPerImage`), g
 * input channels share one image, interleaved along its width (column `w·g + j` holds
 * channel `c·g + j`): `[ci/g, H, W·g, n]`, with the filter's width dilation `sw·g`, gives
 * `[ci/g, kh, kw·g, co]`. One XNNPACK convolution plus three transposes.
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
    const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
    const g = channelsPerImage(ci, kh * kw);
    return composeKernel(backend, [x as TensorInfo, dy as TensorInfo], (xt, dyt) => {
      const { cropped, padding } = cropForPaddedConv(xt as Tensor4D, convolutionWindow(info));
      const [n, height, width] = cropped.shape;
      const images = reshape(transpose(reshape(cropped, [n, height * width, ci / g, g]), [2, 1, 3, 0]), [
        ci / g,
        height,
        width * g,
        n,
      ]) as Tensor4D;
      // A padding column of the input is g columns of the interleaved images.
      const [, rows, [left, right]] = padding;
      const grad = conv2d(
        images,
        transpose(dyt as Tensor4D, [1, 2, 0, 3]),
        1,
        [[0, 0], rows, [left * g, right * g], [0, 0]],
        'NHWC',
        [info.strideHeight, info.strideWidth * g],
      );
      // [ci/g, kh·kw, g·co] -> [kh·kw, ci/g, g·co] is [kh, kw, ci, co].
      return reshape(transpose(reshape(grad, [ci / g, kh * kw, g * co]), [1, 0, 2]), [kh, kw, ci, co]);
    });
  },
};
