import {
  add,
  addN,
  div,
  exp,
  logSoftmax,
  mean,
  mul,
  neg,
  type Scalar,
  slice,
  squaredDifference,
  sub,
  sum,
  type Tensor,
  tidy,
} from '@tensorflow/tfjs-core';
import type { BatchNormTap, BatchStats } from './taps.js';

/** `mean_i( -Σ_c y_ic · log softmax(logits_i)_c )`: cross-entropy with soft targets. */
export function softCrossEntropy(logits: Tensor, targets: Tensor): Scalar {
  return tidy(() => mean(neg(sum(mul(targets, logSoftmax(logits)), -1))) as Scalar);
}

/**
 * BN-statistics loss: mean over BN layers of `MSE(batch mean, running mean) +
 * MSE(batch variance, running variance)`, each MSE averaged over channels.
 */
export function batchNormStatisticsLoss(stats: BatchStats[], taps: BatchNormTap[]): Scalar {
  if (stats.length !== taps.length || stats.length === 0) {
    throw new Error(`batchNormStatisticsLoss: ${stats.length} batch statistics for ${taps.length} BatchNorm layers`);
  }
  return tidy(() => {
    const terms = stats.map((s, i) => {
      const tap = taps[i] as BatchNormTap;
      return add(
        mean(squaredDifference(s.mean, tap.runningMean)),
        mean(squaredDifference(s.variance, tap.runningVariance)),
      );
    });
    return div(addN(terms), terms.length) as Scalar;
  });
}

/**
 * Squared total variation of NHWC images: the mean squared difference between
 * vertically adjacent pixels plus the same between horizontally adjacent ones. A
 * smoothness prior for synthesized images (DeepInversion's ℓ2 TV prior, averaged over
 * pixels and images instead of summed, so its weight does not depend on their count).
 * @throws if `images` is not rank 4 with at least 2 rows and 2 columns.
 */
export function totalVariation(images: Tensor): Scalar {
  const [n, h, w, c] = images.shape;
  if (images.rank !== 4 || (h as number) < 2 || (w as number) < 2) {
    throw new RangeError(`totalVariation: images must be [n, h, w, c] with h, w >= 2, got [${images.shape}]`);
  }
  const size = (rows: number, cols: number) => [n as number, rows, cols, c as number];
  return tidy(() => {
    const [rows, cols] = [h as number, w as number];
    const vertical = squaredDifference(
      slice(images, [0, 1, 0, 0], size(rows - 1, cols)),
      slice(images, 0, size(rows - 1, cols)),
    );
    const horizontal = squaredDifference(
      slice(images, [0, 0, 1, 0], size(rows, cols - 1)),
      slice(images, 0, size(rows, cols - 1)),
    );
    return add(mean(vertical), mean(horizontal)) as Scalar;
  });
}

/** How the KL divergence of {@link distillationLoss} is averaged. */
export type KdReduction = 'mean' | 'batchmean';

/**
 * Knowledge distillation: `alpha · T² · KL(softmax(t/T) ‖ softmax(s/T))`.
 * `'mean'` averages over all elements (PyTorch `KLDivLoss()` default, as the official
 * code); `'batchmean'` sums over classes and averages over the batch (the true KL).
 */
export function distillationLoss(
  teacherLogits: Tensor,
  studentLogits: Tensor,
  options: { temperature: number; alpha?: number; reduction?: KdReduction },
): Scalar {
  const { temperature: t } = options;
  return tidy(() => {
    const logTarget = logSoftmax(div(teacherLogits, t));
    const logInput = logSoftmax(div(studentLogits, t));
    const pointwise = mul(exp(logTarget), sub(logTarget, logInput));
    const kl =
      (options.reduction ?? 'mean') === 'mean'
        ? mean(pointwise)
        : div(sum(pointwise), teacherLogits.shape[0] as number);
    return mul(kl, (options.alpha ?? 1) * t * t) as Scalar;
  });
}
