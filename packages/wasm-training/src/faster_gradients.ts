import {
  add,
  backend_util,
  broadcastTo,
  ClipByValue,
  cast,
  div,
  equal,
  FusedBatchNorm,
  type FusedBatchNormAttrs,
  type GradConfig,
  Mean,
  type MeanAttrs,
  mul,
  neg,
  registerGradient,
  reshape,
  rsqrt,
  Sum,
  type SumAttrs,
  square,
  sub,
  sum,
  type Tensor,
  util,
} from '@tensorflow/tfjs-core';

/** `dy` of a reduction of `x` over `axes`, broadcast back to `x`'s shape. */
function spreadOver(dy: Tensor, x: Tensor, axes: number[]): Tensor {
  const kept = x.shape.map((size, axis) => (axes.includes(axis) ? 1 : size));
  return broadcastTo(reshape(dy, kept), x.shape);
}

/**
 * The gradient of a Sum (`average` false) or Mean (true): `dy`, divided by the number of
 * averaged elements for a Mean, broadcast back over the reduced axes.
 */
function reductionGradConfig(kernelName: string, average: boolean): GradConfig {
  return {
    kernelName,
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved[0] as Tensor;
      const axes = util.parseAxisParam((attrs as unknown as SumAttrs | MeanAttrs).axis, x.shape);
      const count = util.sizeFromShape(axes.map((axis) => x.shape[axis] as number));
      return { x: () => spreadOver(average ? div(dy as Tensor, count) : (dy as Tensor), x, axes) };
    },
  };
}

export const sumGradConfig = reductionGradConfig(Sum, false);
export const meanGradConfig = reductionGradConfig(Mean, true);

/**
 * The gradient of FusedBatchNorm (`tf.batchNorm`) with per-channel factors applied by
 * broadcasting, and full-size work only in the parts asked for. tfjs 4.22's tiles the
 * inverse standard deviation to the input's shape and computes `x - mean` and
 * `dy * scale` up front, so a BatchNorm in inference mode (the frozen teacher, whose
 * input gradient reaches the generator) made 5 full-size passes where 1 does, and one
 * in training mode 14 where 9 do.
 */
export const fusedBatchNormGradConfig: GradConfig = {
  kernelName: FusedBatchNorm,
  inputsToSave: ['x', 'mean', 'variance', 'scale'],
  gradFunc: (dy, saved, attrs) => {
    // Always there: the engine saves every input named above, and tfjs 4.22 fails to
    // save a missing scale (batchNorm without scale cannot be differentiated at all).
    const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor];
    const { varianceEpsilon } = attrs as unknown as FusedBatchNormAttrs;
    const axes = backend_util.getReductionAxes(mean.shape, x.shape);
    const perChannel = (t: Tensor) => reshape(t, mean.shape);
    const rstd = rsqrt(add(variance, varianceEpsilon));
    const scaleRstd = mul(scale, rstd);
    const dyDotCentred = () => sum(mul(dy as Tensor, sub(x, mean)), axes);
    return {
      x: () => mul(dy as Tensor, scaleRstd),
      mean: () => perChannel(neg(mul(sum(dy as Tensor, axes), scaleRstd))),
      variance: () => perChannel(mul(dyDotCentred(), mul(mul(scaleRstd, square(rstd)), -0.5))),
      scale: () => perChannel(mul(dyDotCentred(), rstd)),
      offset: () => perChannel(sum(dy as Tensor, axes)),
    };
  },
};

/**
 * The gradient of ClipByValue (ReLU6 as `layers.reLU({ maxValue: 6 })`): `dy` where
 * `x` lies in `[min, max]`, ends included, else 0, found as the elements where the
 * output equals the input. tfjs 4.22 compares `x` with both scalars, ANDs the masks
 * and selects against zeros: five kernels, three of them slow broadcasting comparisons
 * on wasm (about 70 ms for 1.5M elements, against 20 ms for Equal, Cast and Mul).
 */
export const clipByValueGradConfig: GradConfig = {
  kernelName: ClipByValue,
  inputsToSave: ['x'],
  outputsToSave: [true],
  gradFunc: (dy, saved) => {
    const [x, y] = saved as [Tensor, Tensor];
    return { x: () => mul(dy as Tensor, cast(equal(x, y), 'float32')) };
  },
};

/** The gradients {@link registerFasterGradients} registers. */
export const FASTER_GRADIENTS: readonly GradConfig[] = [
  sumGradConfig,
  meanGradConfig,
  fusedBatchNormGradConfig,
  clipByValueGradConfig,
];

/**
 * Registers gradients that compute the same values as tfjs 4.22's with less work:
 * Sum and Mean broadcast `dy` (one Tile kernel) where tfjs multiplies it by
 * `ones(x.shape)`, a typed array of ones filled in JavaScript and uploaded at every
 * step (BatchNorm's moments average over the whole activation: about a tenth of a
 * ResNet-20 training step at batch 64 on wasm); FusedBatchNorm (`tf.batchNorm`)
 * broadcasts its per-channel factors and does full-size work only for the inputs
 * whose gradients are asked for; ClipByValue finds its mask with one comparison
 * instead of two and a logical AND. Gradients are global in tfjs, so this applies to
 * every backend.
 */
export function registerFasterGradients(): void {
  for (const config of FASTER_GRADIENTS) registerGradient(config);
}
