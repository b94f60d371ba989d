import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import { StudentSnapshot, TrainingDivergedError } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

describe('StudentSnapshot', () => {
  it('notices a non-finite weight and puts back the weights it took, without leaking', () => {
    const student = tinySequential();
    const values = () => student.trainableWeights.map((w) => Array.from(w.read().dataSync()));
    const original = values();
    const before = tf.memory().numTensors;
    const snapshot = new StudentSnapshot(student);
    snapshot.take();
    expect(snapshot.weightsFinite()).toBe(true);
    const [first, second] = student.trainableWeights;
    tf.tidy(() => {
      first?.write(tf.mul(first.read(), 2));
      second?.write(tf.fill(second.shape as number[], Number.NaN));
    });
    expect(snapshot.weightsFinite()).toBe(false);
    snapshot.restore();
    expect(snapshot.weightsFinite()).toBe(true);
    expect(values()).toEqual(original);
    snapshot.dispose();
    expect(tf.memory().numTensors).toBe(before);
    student.dispose();
  });

  it('names the iteration, what broke and the losses in its error', () => {
    const error = new TrainingDivergedError(7, { generator: 1.5, student: Number.NaN }, 'student loss');
    expect(error.message).toMatch(
      /^training diverged at iteration 7: the student loss became non-finite \(generator 1\.5, student NaN\); the student is as it was before that step/,
    );
    expect(error.name).toBe('TrainingDivergedError');
  });
});
