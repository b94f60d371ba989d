import {
  broadcastTo,
  div,
  type GradConfig,
  Mean,
  type MeanAttrs,
  registerGradient,
  reshape,
  Sum,
  type SumAttrs,
  type Tensor,
  util,
} from '@tensorflow/tfjs-core';

/** `dy` of a reduction of `x` over `axes`, broadcast back to `x`'s shape. */
function spreadOver(dy: Tensor, x: Tensor, axes: number[]): Tensor {
  const kept = x.shape.map((size, axis) => (axes.includes(axis) ? 1 : size));
  return broadcastTo(reshape(dy, kept), x.shape);
}

/** The gradient of Sum: `dy` broadcast over the summed axes. */
export const sumGradConfig: GradConfig = {
  kernelName: Sum,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const x = saved[0] as Tensor;
    const axes = util.parseAxisParam((attrs as unknown as SumAttrs).axis, x.shape);
    return { x: () => spreadOver(dy as Tensor, x, axes) };
  },
};

/** The gradient of Mean: `dy` divided by the count of averaged elements, broadcast over the averaged axes. */
export const meanGradConfig: GradConfig = {
  kernelName: Mean,
  inputsToSave: ['x'],
  gradFunc: (dy, saved, attrs) => {
    const x = saved[0] as Tensor;
    const axes = util.parseAxisParam((attrs as unknown as MeanAttrs).axis, x.shape);
    const count = axes.reduce((product, axis) => product * (x.shape[axis] as number), 1);
    return { x: () => spreadOver(div(dy as Tensor, count), x, axes) };
  },
};

/**
 * Registers gradients of Sum and Mean that broadcast `dy` (one Tile kernel) in place of
 * tfjs 4.22's, which multiply it by `ones(x.shape)`: a typed array of ones filled in
 * JavaScript and uploaded at every step, as large as the reduced input. BatchNorm in
 * training mode averages over the whole activation for its moments, so a ResNet-20
 * training step at batch 64 spent about a tenth of its time filling ones (profiled on
 * wasm). Same values on every backend; gradients are global in tfjs, so this applies
 * to all of them.
 */
export function registerReductionGradients(): void {
  registerGradient(sumGradConfig);
  registerGradient(meanGradConfig);
}
