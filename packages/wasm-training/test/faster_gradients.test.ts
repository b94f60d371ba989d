import '@tensorflow/tfjs-layers'; // registers tfjs's own gradients again when imported; ours must stay
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import {
  clipByValueGradConfig,
  fusedBatchNormGradConfig,
  meanGradConfig,
  sumGradConfig,
} from '../src/faster_gradients.js';
import { registerWasmTrainingKernels } from '../src/index.js';

// tfjs's own, to compare with (registered on import, replaced in beforeAll).
const tfjsFusedBatchNormGrad = tf.getGradient('FusedBatchNorm') as tf.GradConfig;
const tfjsClipByValueGrad = tf.getGradient('ClipByValue') as tf.GradConfig;

/** d/dx of Σ reduce(x) · w, for a fixed weight `w` of the reduction's output shape. */
function gradOfWeighted(reduce: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, w: number[]): number[] {
  return tf.tidy(() => {
    const g = tf.grad((xx: tf.Tensor) => {
      const y = reduce(xx);
      return tf.sum(tf.mul(y, tf.tensor(w, y.shape)));
    })(x);
    expect(g.shape).toEqual(x.shape);
    return Array.from(g.dataSync());
  });
}

describe.each(['cpu', 'wasm'] as const)('faster gradients on %s', (backend) => {
  let x: tf.Tensor;
  beforeAll(async () => {
    await useBackend(backend);
    registerWasmTrainingKernels();
    x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2]);
  });

  it('are the ones registered, also after tfjs-layers is imported', () => {
    expect(tf.getGradient('Sum')?.gradFunc).toBe(sumGradConfig.gradFunc);
    expect(tf.getGradient('Mean')?.gradFunc).toBe(meanGradConfig.gradFunc);
    expect(tf.getGradient('FusedBatchNorm')?.gradFunc).toBe(fusedBatchNormGradConfig.gradFunc);
    expect(tf.getGradient('ClipByValue')?.gradFunc).toBe(clipByValueGradConfig.gradFunc);
    expect(tfjsFusedBatchNormGrad.gradFunc).not.toBe(fusedBatchNormGradConfig.gradFunc);
  });

  // Ours multiplies dy by 0 where tfjs selects +0: the same values up to the sign of zero.
  const plusZero = (v: number) => v + 0;

  it('ClipByValue passes dy inside [min, max], both ends included, as tfjs 4.22 does', () => {
    const values = tf.tensor1d([-3, -0, 0, 0.5, 5.999, 6, 6.001, 100, Number.NaN]);
    const dy = tf.tensor1d([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const gradient = () =>
      tf.tidy(() =>
        Array.from(
          tf
            .grad((v: tf.Tensor) => tf.clipByValue(v, 0, 6))(values, dy)
            .dataSync(),
          plusZero,
        ),
      );
    const ours = gradient();
    expect(ours).toEqual([0, 2, 3, 4, 5, 6, 0, 0, 0]);
    tf.registerGradient(tfjsClipByValueGrad);
    try {
      expect(gradient()).toEqual(ours);
    } finally {
      tf.registerGradient(clipByValueGradConfig);
    }
    // On a larger tensor, around both ends: the same as tfjs's.
    const big = tf.randomNormal([4, 8, 8, 6], 3, 4, 'float32', 5);
    const probe = tf.randomNormal([4, 8, 8, 6], 0, 1, 'float32', 6);
    const relu6Grad = () =>
      tf.tidy(() =>
        Array.from(
          tf
            .grad((v: tf.Tensor) => tf.sum(tf.mul(tf.clipByValue(v, 0, 6), probe)))(big)
            .dataSync(),
          plusZero,
        ),
      );
    const oursBig = relu6Grad();
    tf.registerGradient(tfjsClipByValueGrad);
    try {
      expect(relu6Grad()).toEqual(oursBig);
    } finally {
      tf.registerGradient(clipByValueGradConfig);
    }
    tf.dispose([values, dy, big, probe]);
  });

  /**
   * Gradients of Σ batchNorm(...) · probe with respect to every input it uses, with ours
   * and with tfjs's gradient. With batch moments, the mean and variance gradients
   * reach x through the moments.
   */
  function batchNormGrads(
    xShape: number[],
    statsShape: number[],
    stats: 'batch' | 'given',
    tfjsStatsShape = statsShape,
  ): { ours: Float32Array[]; tfjs: Float32Array[] } {
    const run = (statsShape: number[]) =>
      tf.tidy(() => {
        const x = tf.randomNormal(xShape, 1, 2, 'float32', 11);
        const scale = tf.randomNormal(statsShape, 1, 0.5, 'float32', 12);
        const offset = tf.randomNormal(statsShape, 0, 1, 'float32', 13);
        const givenMean = tf.randomNormal(statsShape, 0, 1, 'float32', 14);
        const givenVariance = tf.randomUniform(statsShape, 0.5, 2, 'float32', 15);
        const probe = tf.randomNormal(xShape, 0, 1, 'float32', 16);
        const axes = xShape.slice(0, -1).map((_, i) => i);
        const f = (...inputs: tf.Tensor[]) => {
          const [xx, o, s, m, v] = inputs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor?, tf.Tensor?];
          const moments = stats === 'batch' ? tf.moments(xx, axes, statsShape.length > 1) : null;
          const y = tf.batchNorm(
            xx,
            moments ? moments.mean : (m as tf.Tensor),
            moments ? moments.variance : (v as tf.Tensor),
            o,
            s,
            1e-3,
          );
          return tf.sum(tf.mul(y, probe));
        };
        const inputs = [x, offset, scale, ...(stats === 'given' ? [givenMean, givenVariance] : [])];
        return tf
          .grads(f)(inputs)
          .map((g) => g.dataSync() as Float32Array);
      });
    const ours = run(statsShape);
    tf.registerGradient(tfjsFusedBatchNormGrad);
    try {
      return { ours, tfjs: run(tfjsStatsShape) };
    } finally {
      tf.registerGradient(fusedBatchNormGradConfig);
    }
  }

  it.each([
    ['training mode (batch moments), NHWC', [4, 3, 5, 6], [6], 'batch'],
    // tfjs's own gradient fails on statistics of shape [1, 1, 1, C]: compared with it on [C]
    ['training mode, moments kept as [1, 1, 1, C]', [4, 3, 5, 6], [1, 1, 1, 6], 'batch', [6]],
    ['inference mode (given statistics, gradients for them too)', [4, 3, 5, 6], [6], 'given'],
    ['after a Dense layer ([N, C])', [8, 5], [5], 'batch'],
  ] as const)('FusedBatchNorm: same gradients as tfjs 4.22, %s', (_, xShape, statsShape, stats, tfjsStatsShape?) => {
    const { ours, tfjs } = batchNormGrads(
      [...xShape],
      [...statsShape],
      stats,
      tfjsStatsShape ? [...tfjsStatsShape] : undefined,
    );
    expect(ours.length).toBe(tfjs.length);
    ours.forEach((g, i) => {
      const reference = tfjs[i] as Float32Array;
      const scaleOfValues = Math.max(...Array.from(reference, Math.abs));
      expect(scaleOfValues).toBeGreaterThan(0);
      g.forEach((v, j) => expect(Math.abs(v - (reference[j] as number))).toBeLessThan(1e-5 * scaleOfValues + 1e-6));
    });
  });

  it('Sum over one axis copies each output weight to the summed elements', () => {
    // y[i, k] = Σ_j x[i, j, k]; dx[i, j, k] = w[i, k]
    expect(gradOfWeighted((v) => tf.sum(v, 1), x, [1, 2, 3, 4])).toEqual([1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4]);
  });

  it('Sum over several axes, negative axes, keepDims, and all axes', () => {
    // y[j] = Σ_{i,k} x[i, j, k]
    expect(gradOfWeighted((v) => tf.sum(v, [0, -1]), x, [5, 6, 7])).toEqual([5, 5, 6, 6, 7, 7, 5, 5, 6, 6, 7, 7]);
    expect(gradOfWeighted((v) => tf.sum(v, 2, true), x, [1, 2, 3, 4, 5, 6])).toEqual([
      1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
    ]);
    expect(gradOfWeighted((v) => tf.sum(v), x, [2])).toEqual(new Array(12).fill(2));
  });

  it('Mean divides by the number of averaged elements', () => {
    // y[i, k] = mean_j x[i, j, k]: 3 elements each
    expect(gradOfWeighted((v) => tf.mean(v, 1), x, [3, 6, 9, 12])).toEqual([1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4]);
    // over axes 0 and 2 (4 elements each), keepDims
    expect(gradOfWeighted((v) => tf.mean(v, [0, 2], true), x, [4, 8, 12])).toEqual([
      1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3,
    ]);
    expect(gradOfWeighted((v) => tf.mean(v), x, [24])).toEqual(new Array(12).fill(2));
  });

  it('BatchNorm moments: mean and variance gradients match the closed form', () => {
    // d/dx of Σ_c a_c·mean_c + b_c·var_c over axes [0, 1, 2] = a_c / m + b_c · 2 (x - mean_c) / m
    const v = tf.randomNormal([3, 4, 5, 2], 0, 1, 'float32', 7);
    const a = [0.5, -1.5];
    const b = [2, 0.25];
    const got = tf.tidy(() =>
      tf.grad((xx: tf.Tensor) => {
        const { mean, variance } = tf.moments(xx, [0, 1, 2]);
        return tf.add(tf.sum(tf.mul(mean, a)), tf.sum(tf.mul(variance, b)));
      })(v),
    );
    const m = 60;
    const values = Array.from(v.dataSync());
    const means = [0, 1].map((c) => values.filter((_, i) => i % 2 === c).reduce((s, t) => s + t, 0) / m);
    const expected = values.map((t, i) => {
      const c = i % 2;
      return (a[c] as number) / m + ((b[c] as number) * 2 * (t - (means[c] as number))) / m;
    });
    const actual = got.dataSync();
    expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, 5));
    tf.dispose([v, got]);
  });
});
