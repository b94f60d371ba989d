import {
  cast,
  type KernelConfig,
  matMul,
  oneHot,
  reshape,
  type TensorInfo,
  UnsortedSegmentSum,
  type UnsortedSegmentSumAttrs,
  type UnsortedSegmentSumInputs,
} from '@tensorflow/tfjs-core';
import { composeKernel } from './kernel_io.js';

/**
 * out[s, ...] = Σ_{i : ids[i] = s} x[i, ...] as one matrix product: the one-hot matrix
 * of the ids, transposed, times x flattened to rows. Ids outside [0, numSegments) add
 * nothing, as in TensorFlow. (This is the gradient of gather, e.g. of an embedding.)
 */
export const unsortedSegmentSumConfig: KernelConfig = {
  kernelName: UnsortedSegmentSum,
  backendName: 'wasm',
  kernelFunc: ({ inputs, backend, attrs }) => {
    const { x, segmentIds } = inputs as UnsortedSegmentSumInputs;
    const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
    return composeKernel(backend, [x as TensorInfo, segmentIds as TensorInfo], (xt, ids) => {
      const rows = ids.size;
      const rest = xt.shape.slice(ids.rank);
      const values = cast(reshape(xt, [rows, rest.reduce((n, d) => n * d, 1)]), 'float32');
      const hot = cast(oneHot(cast(reshape(ids, [rows]), 'int32'), numSegments), 'float32');
      const summed = reshape(matMul(hot, values, true, false), [numSegments, ...rest]);
      return xt.dtype === 'float32' ? summed : cast(summed, xt.dtype);
    });
  },
};
