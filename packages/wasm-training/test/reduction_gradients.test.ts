import '@tensorflow/tfjs-layers'; // registers tfjs's own gradients again when imported; ours must stay
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { registerWasmTrainingKernels } from '../src/index.js';
import { meanGradConfig, sumGradConfig } from '../src/reduction_gradients.js';

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

describe.each(['cpu', 'wasm'] as const)('Sum and Mean gradients (broadcast, no ones) on %s', (backend) => {
  let x: tf.Tensor;
  beforeAll(async () => {
    await useBackend(backend);
    registerWasmTrainingKernels();
    x = tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 3, 2]);
  });

  it('are the ones registered, also after tfjs-layers is imported', () => {
    expect(tf.getGradient('Sum')?.gradFunc).toBe(sumGradConfig.gradFunc);
    expect(tf.getGradient('Mean')?.gradFunc).toBe(meanGradConfig.gradFunc);
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
