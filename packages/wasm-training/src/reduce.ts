import {
  avgPool,
  type KernelConfig,
  Mean,
  type MeanAttrs,
  type MeanInputs,
  mul,
  reshape,
  Sum,
  type SumAttrs,
  type SumInputs,
  scalar,
  type Tensor4D,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { type KernelArgs, withFastPath } from './fast_path.js';
import { composeKernel } from './kernel_io.js';

/**
 * The most values per pooled row: tfjs-wasm 4.22's XNNPACK average pooling corrupts its
 * heap when a window larger than a few rows pools 16,384 channels or more (its
 * multipass buffer holds a row of channels on the small wasm stack; a sum of
 * `[8, 16384]` over axis 0 crashed a later free with 'memory access out of bounds').
 * Wider rows use the original kernel.
 */
export const MAX_POOLED_ROW = 8192;

/**
 * Mean over leading axes as one XNNPACK average pooling: x viewed as `[1, R, 1, I]`
 * (R the reduced size, I the rest) pooled by an `R x 1` window. tfjs-wasm's Mean and
 * Sum first transpose the reduced axes innermost, a full copy, and BatchNorm in
 * training (its moments and its gradient) reduces NHWC activations over [0, 1, 2]
 * dozens of times per step. (A matrix product with a row of ones would do the same
 * sum, but tfjs-wasm caches its packed right operand by tensor id, not by shape, so
 * two reshapes of one tensor would share a stale operand.) Other reductions
 * (innermost axes, which need no transpose; axes not in a leading block; integer
 * dtypes; empty tensors; rows wider than {@link MAX_POOLED_ROW}) use the original kernel.
 */
export function fasterMeanConfig(): KernelConfig {
  return withFastPath(Mean, (args) => leadingAxesReduction(args, 'mean'));
}

/** Sum over leading axes: the mean of {@link fasterMeanConfig} times R. */
export function fasterSumConfig(): KernelConfig {
  return withFastPath(Sum, (args) => leadingAxesReduction(args, 'sum'));
}

function leadingAxesReduction(args: KernelArgs, kind: 'sum' | 'mean'): TensorInfo | null {
  const x = (args.inputs as SumInputs | MeanInputs).x as TensorInfo;
  const { axis, keepDims } = args.attrs as unknown as SumAttrs | MeanAttrs;
  if (x.dtype !== 'float32' || util.sizeFromShape(x.shape) === 0) return null;
  const count = leadingBlockLength(util.parseAxisParam(axis, x.shape));
  if (count === 0 || count === x.shape.length) return null;
  const reduced = util.sizeFromShape(x.shape.slice(0, count));
  // A 1 x 1 window is a copy in tfjs-wasm's AvgPool: nothing to gain.
  if (reduced === 1) return null;
  const rest = x.shape.slice(count);
  if (util.sizeFromShape(rest) > MAX_POOLED_ROW) return null;
  const outShape = keepDims ? [...x.shape.slice(0, count).map(() => 1), ...rest] : rest;
  return composeKernel(args.backend, [x], (xt) => {
    const rows = reshape(xt, [1, reduced, 1, util.sizeFromShape(rest)]) as Tensor4D;
    const mean = avgPool(rows, [reduced, 1], 1, 'valid');
    return reshape(kind === 'mean' ? mean : mul(mean, scalar(reduced)), outShape);
  });
}

/** How many leading axes `axes` names if they are exactly 0, 1, ..., k-1 (any order); else 0. */
export function leadingBlockLength(axes: readonly number[]): number {
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  return sorted.every((axis, i) => axis === i) ? sorted.length : 0;
}
