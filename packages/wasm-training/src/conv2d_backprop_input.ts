import {
  backend_util,
  Conv2DBackpropInput,
  type Conv2DBackpropInputAttrs,
  type Conv2DBackpropInputInputs,
  conv2d,
  type KernelConfig,
  reshape,
  reverse,
  type Tensor4D,
  type TensorInfo,
  transpose,
} from '@tensorflow/tfjs-core';
import { withFastPath } from './fast_path.js';
import { composeKernel } from './kernel_io.js';
import { cropForPaddedConv, padOrCrop, spreadOutputGradient } from './spatial.js';

/**
 * The taps of a strided convolution's input gradient along one axis, split by phase:
 * input pixel `u·s + ρ` receives `dy[u - d] · W[d·s + ρ + padBefore]` for every `d`
 * that puts the tap inside the filter. Over all phases `d` runs from `first` to
 * `last`: `last - first + 1` taps per phase (a phase with fewer gets zeros).
 */
export function phaseTaps(kernel: number, stride: number, padBefore: number): { first: number; last: number } {
  return {
    // ceil(-(padBefore + stride - 1) / stride), without a negative zero
    first: 0 - Math.floor((padBefore + stride - 1) / stride),
    last: Math.floor((kernel - 1 - padBefore) / stride),
  };
}

/**
 * dx of a convolution with the same stride s > 1 in both directions, as s x s phases
 * (a sub-pixel convolution): one stride-1 convolution of dy (padded by the phase
 * taps) with a filter whose output channels hold, in s x s blocks, each phase's taps
 * reversed, then a transpose interleaves the phases (as `depthToSpace` would). The
 * zero-stuffed form convolves s² times as many pixels, most of them zeros: for a 3x3
 * filter at stride 2, 36 multiply-adds per output where this does 16.
 */
function stridedInputGradient(dy: Tensor4D, filter: Tensor4D, info: backend_util.Conv2DInfo): Tensor4D {
  const s = info.strideHeight;
  const { filterHeight: kh, filterWidth: kw, inChannels: ci, outChannels: co } = info;
  const rows = phaseTaps(kh, s, info.padInfo.top);
  const cols = phaseTaps(kw, s, info.padInfo.left);
  const [tapRows, tapCols] = [rows.last - rows.first + 1, cols.last - cols.first + 1];
  // The filter's rows from first·s + top on, tapRows·s of them (zeros outside), as [t, ρ] pairs.
  const top = rows.first * s + info.padInfo.top;
  const left = cols.first * s + info.padInfo.left;
  const window = padOrCrop(reshape(filter, [1, kh, kw, ci * co]), [
    -top,
    top + tapRows * s - kh,
    -left,
    left + tapCols * s - kw,
  ]);
  const phases = reverse(reshape(window, [tapRows, s, tapCols, s, ci, co]), [0, 2]);
  const phaseFilter = reshape(transpose(phases, [0, 2, 5, 1, 3, 4]), [tapRows, tapCols, co, s * s * ci]) as Tensor4D;
  const [outRows, outCols] = [Math.ceil(info.inHeight / s), Math.ceil(info.inWidth / s)];
  const { cropped, padding } = cropForPaddedConv(dy, [
    rows.last,
    outRows + tapRows - 1 - rows.last - info.outHeight,
    cols.last,
    outCols + tapCols - 1 - cols.last - info.outWidth,
  ]);
  // depthToSpace as a transpose: tfjs-wasm's own DepthToSpace is several times slower.
  const [n] = dy.shape;
  const byPhase = reshape(conv2d(cropped, phaseFilter, 1, padding), [n, outRows, outCols, s, s, ci]);
  const interleaved = reshape(transpose(byPhase, [0, 1, 3, 2, 4, 5]), [n, outRows * s, outCols * s, ci]) as Tensor4D;
  return padOrCrop(interleaved, [0, info.inHeight - outRows * s, 0, info.inWidth - outCols * s]);
}

/**
 * dx is a stride-1 convolution of dy (zero-stuffed by the forward stride, padded so
 * every input pixel is reached) with the filter reversed in space and its in/out
 * channels swapped: one XNNPACK convolution; with the same stride > 1 in both
 * directions, phase by phase instead (`stridedInputGradient`). Replaces tfjs-wasm's
 * own kernel, a direct loop that is the slowest part of a wasm training step; NCHW
 * data goes to it.
 */
export function fasterConv2DBackpropInputConfig(): KernelConfig {
  return withFastPath(Conv2DBackpropInput, ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs as Conv2DBackpropInputInputs;
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
    if (dataFormat !== 'NHWC') return null;
    const filterShape = (filter as TensorInfo).shape as [number, number, number, number];
    const info = backend_util.computeConv2DInfo(inputShape, filterShape, strides, 1, pad, dimRoundingMode);
    return composeKernel(backend, [dy as TensorInfo, filter as TensorInfo], (dyt, f) => {
      if (info.strideHeight > 1 && info.strideHeight === info.strideWidth) {
        return stridedInputGradient(dyt as Tensor4D, f as Tensor4D, info);
      }
      // A 1x1 filter is its own reverse (tfjs-wasm's Reverse copies element by element).
      const reversed = info.filterHeight === 1 && info.filterWidth === 1 ? f : reverse(f, [0, 1]);
      const flipped = transpose(reversed, [0, 1, 3, 2]) as Tensor4D;
      const { cropped, padding } = spreadOutputGradient(dyt as Tensor4D, info);
      return conv2d(cropped, flipped, 1, padding, 'NHWC');
    });
  });
}
