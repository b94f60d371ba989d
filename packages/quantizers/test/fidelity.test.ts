import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { meanFidelity, perImageFidelity } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

describe('perImageFidelity and meanFidelity', () => {
  it('score each image against hand-computed agreement and KL, and average them', () => {
    const teacher = tf.tensor2d([
      [2, 0],
      [0, 1],
    ]);
    const student = tf.tensor2d([
      [1, 0],
      [1, 0],
    ]);
    const before = tf.memory().numTensors;
    const softmax = (z: number[]) => z.map((v) => Math.exp(v) / z.reduce((s, w) => s + Math.exp(w), 0));
    const kl = (t: number[], s: number[]) => {
      const p = softmax(t);
      const q = softmax(s);
      return p.reduce((sum, pi, i) => sum + pi * Math.log(pi / (q[i] as number)), 0);
    };
    const expected = [kl([2, 0], [1, 0]), kl([0, 1], [1, 0])];
    const perImage = perImageFidelity(student, teacher);
    expect(Array.from(perImage.agreement.dataSync())).toEqual([1, 0]);
    const values = perImage.kl.dataSync();
    expected.forEach((value, i) => expect(values[i]).toBeCloseTo(value, 5));
    tf.dispose([perImage.agreement, perImage.kl]);
    const means = meanFidelity(student, teacher);
    expect(means.agreement).toBe(0.5);
    expect(means.kl).toBeCloseTo(expected.reduce((a, b) => a + b, 0) / 2, 5);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([teacher, student]);
  });
});
