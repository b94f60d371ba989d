import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  type backend_util,
  type KernelConfig,
  Slice,
  type SliceAttrs,
  type SliceInputs,
  slice_util,
  type TensorInfo,
  util,
} from '@tensorflow/tfjs-core';
import { withFastPath } from './fast_path.js';

/**
 * Slice as whole-row copies straight from the wasm heap. tfjs-wasm's own Slice first
 * copies the entire input out of the heap (`readSync`), then copies one innermost row
 * at a time: cropping the height and width of a batch of 32x32x16 activations meant a
 * 4 MB copy and 64k copies of 16 floats. Here the trailing axes the slice takes whole
 * are merged into the last axis it cuts, so each copy is a cropped row of width x
 * channels, read in place. Strings and scalars use the original kernel.
 */
export function fasterSliceConfig(): KernelConfig {
  return withFastPath(Slice, (args) => {
    const x = (args.inputs as SliceInputs).x as TensorInfo;
    const { begin, size } = args.attrs as unknown as SliceAttrs;
    if (x.dtype === 'string' || x.shape.length === 0) return null;
    const backend = args.backend as BackendWasm;
    const [start, extent] = slice_util.parseSliceParams(x, begin, size) as [number[], number[]];
    // Allocate first: growing the heap detaches views made before.
    const out = backend.makeOutput(extent, x.dtype);
    if (util.sizeFromShape(extent) === 0) return out;
    const source = backend.typedArrayFromHeap(x);
    const target = backend.typedArrayFromHeap(out);
    const view = mergeWholeTrailingAxes(x.shape, start, extent);
    copyRows(source, target, view.shape, view.begin, view.size);
    return out;
  });
}

/**
 * The same slice on the lowest-rank view: the trailing axes taken whole (begin 0, full
 * size) folded into the last axis that is cut, so its rows are contiguous runs.
 */
export function mergeWholeTrailingAxes(
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
): { shape: number[]; begin: number[]; size: number[] } {
  let cut = shape.length - 1;
  while (cut > 0 && begin[cut] === 0 && size[cut] === shape[cut]) cut--;
  const inner = shape.slice(cut + 1).reduce((n, d) => n * d, 1);
  const fold = (xs: readonly number[]) => [...xs.slice(0, cut), (xs[cut] ?? 1) * inner];
  return { shape: fold(shape), begin: fold(begin), size: fold(size) };
}

/** Copies the slice row by row: one `set` per index of every axis but the last. */
function copyRows(
  source: backend_util.TypedArray,
  target: backend_util.TypedArray,
  shape: number[],
  begin: number[],
  size: number[],
): void {
  const rank = shape.length;
  const strides = util.computeStrides(shape);
  const row = size[rank - 1] as number;
  const rows = util.sizeFromShape(size.slice(0, rank - 1));
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  for (let r = 0, written = 0; r < rows; r++, written += row) {
    let from = begin[rank - 1] as number;
    for (let axis = 0; axis < rank - 1; axis++) {
      from += ((begin[axis] as number) + (index[axis] as number)) * (strides[axis] as number);
    }
    target.set(source.subarray(from, from + row), written);
    // Advance the multi-index over all axes but the last (odometer order).
    for (let axis = rank - 2; axis >= 0; axis--) {
      index[axis] = (index[axis] as number) + 1;
      if ((index[axis] as number) < (size[axis] as number)) break;
      index[axis] = 0;
    }
  }
}
