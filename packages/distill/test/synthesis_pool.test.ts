import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import { FidelitySet, SynthesisPool, synthesizeImages } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

/** The tiny teacher with a BN that lets signal through. */
function liveTeacher() {
  const teacher = tinySequential();
  tf.tidy(() => teacher.getLayer('bn1').setWeights([tf.ones([4]), tf.fill([4], 0.5), tf.fill([4], 0.5), tf.ones([4])]));
  return teacher;
}

/** One-hot targets over 5 classes. */
const oneHot = (labels: number[]) =>
  Float32Array.from({ length: labels.length * 5 }, (_, k) => (k % 5 === labels[Math.floor(k / 5)] ? 1 : 0));

const values = (x: tf.Tensor) => Array.from(x.dataSync());

describe('synthesizeImages by batch', () => {
  it("gives each batch the images a call on it alone with the batch's seed gives, jitter and flips included", async () => {
    const teacher = liveTeacher();
    const targets = oneHot([0, 1, 2, 3, 4, 0, 1]);
    const style = { steps: 12, jitter: 2, flip: true, inputRange: [-1, 1] as const };
    const whole = await synthesizeImages(teacher, { ...style, targets, batchSize: 3, seed: 9 });
    const parts = await Promise.all(
      [0, 3, 6].map((start) =>
        synthesizeImages(teacher, { ...style, targets: targets.subarray(start * 5, (start + 3) * 5), seed: 9 + start }),
      ),
    );
    expect(values(whole)).toEqual(values(tf.concat(parts)));
    tf.dispose([whole, ...parts]);
  });
});

describe('SynthesisPool', () => {
  it('on two threads synthesizes the images one thread does, in order, without leaking', async () => {
    const teacher = liveTeacher();
    const targets = oneHot([0, 1, 2, 3, 4, 0, 1, 2, 3]);
    const options = { targets, steps: 15, batchSize: 2, jitter: 1, flip: true, seed: 3 };
    const alone = await synthesizeImages(teacher, options);
    const before = tf.memory().numTensors;
    const pool = await SynthesisPool.start(teacher, 2);
    try {
      expect(pool.threads).toBe(2);
      // Two calls at once share the two threads.
      const [pooled, other] = await Promise.all([
        pool.synthesize(options),
        pool.synthesize({ ...options, targets: oneHot([4]), seed: 20 }),
      ]);
      expect(pooled.shape).toEqual([9, 8, 8, 3]);
      expect(values(pooled)).toEqual(values(alone));
      const single = await synthesizeImages(teacher, { ...options, targets: oneHot([4]), seed: 20 });
      expect(values(other)).toEqual(values(single));
      tf.dispose([pooled, other, single]);
    } finally {
      await pool.dispose();
    }
    expect(tf.memory().numTensors).toBe(before);
    alone.dispose();
  });

  it("a fidelity set synthesized on two threads is one thread's", async () => {
    const teacher = liveTeacher();
    const settings = { images: 6, steps: 5, batchSize: 2, seed: 2, jitter: 1 };
    const alone = await FidelitySet.synthesize(teacher, settings);
    const pooled = await FidelitySet.synthesize(teacher, { ...settings, workers: 2 });
    expect(pooled.measure(teacher).all).toEqual(alone.measure(teacher).all);
    // The same images: a model that differs from the teacher scores them the same.
    const shifted = liveTeacher();
    tf.tidy(() =>
      shifted.getLayer('fc').setWeights(
        shifted
          .getLayer('fc')
          .getWeights()
          .map((w) => tf.mul(w, 0.5)),
      ),
    );
    expect(pooled.measure(shifted)).toEqual(alone.measure(shifted));
    pooled.dispose();
    alone.dispose();
  });

  it('stops both threads between steps when aborted, returning every image', async () => {
    const teacher = liveTeacher();
    const pool = await SynthesisPool.start(teacher, 2);
    const stop = new AbortController();
    try {
      const started = Date.now();
      const pending = pool.synthesize({
        targets: oneHot([0, 1, 2, 3]),
        batchSize: 2,
        steps: 1_000_000,
        signal: stop.signal,
      });
      setTimeout(() => stop.abort(), 300);
      const images = await pending;
      expect(images.shape).toEqual([4, 8, 8, 3]);
      expect(Date.now() - started).toBeLessThan(60_000);
      images.dispose();
    } finally {
      await pool.dispose();
    }
  });

  it('names what is wrong, and a stopped pool rejects', async () => {
    const teacher = liveTeacher();
    await expect(SynthesisPool.start(teacher, 3)).rejects.toThrow('SynthesisPool: threads must be 1 or 2, got 3');
    const pool = await SynthesisPool.start(teacher, 2);
    // A bad batch is rejected with synthesizeImages' message, on either thread.
    await expect(pool.synthesize({ targets: oneHot([0, 1, 2]), batchSize: 1, steps: 0 })).rejects.toThrow(
      'steps must be a positive integer, got 0',
    );
    await pool.dispose();
    await expect(pool.synthesize({ targets: oneHot([0, 1]), batchSize: 1, steps: 2 })).rejects.toThrow(
      'synthesis worker: disposed',
    );
  });
});
