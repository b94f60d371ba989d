import { quantizeModel } from '@qimera/quantizers';
import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import {
  batchNormStatisticsLoss,
  FidelityGuard,
  FidelitySet,
  startingPixels,
  synthesizeImages,
  TeacherTaps,
  totalVariation,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

/** The tiny teacher with a BN that lets signal through (random BN weights can zero every channel). */
function liveTeacher() {
  const teacher = tinySequential();
  const bn = teacher.getLayer('bn1');
  tf.tidy(() => bn.setWeights([tf.ones([4]), tf.fill([4], 0.5), tf.fill([4], 0.5), tf.ones([4])]));
  return teacher;
}

/** How many of `images` the teacher classifies as their `labels`. */
const hitsOf = (taps: TeacherTaps, images: tf.Tensor, labels: number[]) =>
  tf.tidy(
    () =>
      tf
        .sum(tf.cast(tf.equal(tf.argMax(taps.forward(images).logits, -1), tf.tensor1d(labels, 'int32')), 'float32'))
        .dataSync()[0] as number,
  );

/** One-hot targets over 5 classes. */
const oneHot = (labels: number[]) =>
  Float32Array.from({ length: labels.length * 5 }, (_, k) => (k % 5 === labels[Math.floor(k / 5)] ? 1 : 0));

describe('synthesizeImages', () => {
  it('moves noise towards the BN statistics and the targets, reproducibly, without leaking', async () => {
    const teacher = liveTeacher();
    const labels = [0, 1, 2, 3, 4, 0, 1, 2];
    const targets = oneHot(labels);
    const taps = new TeacherTaps(teacher);
    const score = (images: tf.Tensor) =>
      tf.tidy(() => {
        const { logits, stats } = taps.forward(images);
        const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, -1), tf.tensor1d(labels, 'int32')), 'float32'));
        return [batchNormStatisticsLoss(stats, taps.batchNorms).dataSync()[0] as number, hits.dataSync()[0] as number];
      }) as unknown as [number, number];
    const before = tf.memory().numTensors;
    const start = await synthesizeImages(teacher, { targets, steps: 1, learningRate: 1e-9, seed: 4 });
    const trained = await synthesizeImages(teacher, { targets, steps: 150, seed: 4 });
    const again = await synthesizeImages(teacher, { targets, steps: 150, seed: 4 });
    expect(tf.memory().numTensors - before).toBe(3);
    expect(trained.shape).toEqual([8, 8, 8, 3]);
    const [bnsStart] = score(start);
    const [bnsTrained, hits] = score(trained);
    expect(bnsTrained).toBeLessThan(0.5 * bnsStart);
    expect(hits).toBe(8);
    expect(Array.from(again.dataSync())).toEqual(Array.from(trained.dataSync()));
    // Batches are optimised separately: 8 images in batches of 3 give 8 images.
    const batched = await synthesizeImages(teacher, { targets, steps: 2, batchSize: 3 });
    expect(batched.shape[0]).toBe(8);
    tf.dispose([start, trained, again, batched]);
    taps.dispose();
  });

  it('keeps pixels inside an input range, starting uniform in it', async () => {
    const teacher = liveTeacher();
    const targets = oneHot([0, 1, 2, 3, 4, 0, 1, 2]);
    const unbounded = await synthesizeImages(teacher, { targets, steps: 30, seed: 4 });
    const bounded = await synthesizeImages(teacher, { targets, steps: 30, seed: 4, inputRange: [-0.5, 0.25] });
    const start = await synthesizeImages(teacher, { targets, steps: 1, learningRate: 1e-9, inputRange: [-0.5, 0.25] });
    const extremes = (x: tf.Tensor) => [tf.min(x).dataSync()[0] as number, tf.max(x).dataSync()[0] as number];
    const [lo, hi] = extremes(unbounded);
    expect(lo).toBeLessThan(-0.5);
    expect(hi).toBeGreaterThan(0.25);
    const [blo, bhi] = extremes(bounded);
    expect(blo).toBeGreaterThanOrEqual(-0.5);
    expect(bhi).toBeLessThanOrEqual(0.25);
    // The clip binds: some pixels sit on each end.
    expect(blo).toBe(-0.5);
    expect(bhi).toBe(0.25);
    // The starting noise is uniform over the range: mean near its middle, nothing outside.
    expect(tf.mean(start).dataSync()[0]).toBeCloseTo(-0.125, 1);
    tf.dispose([unbounded, bounded, start]);
    await expect(synthesizeImages(teacher, { targets, inputRange: [0, Number.NaN] })).rejects.toThrow(
      'synthesizeImages: inputRange must be [min, max] with finite min < max, got [0,null]',
    );
  });

  it('jitters and mirrors the batch when asked: reproducible for a seed, still fitting, without leaking', async () => {
    const teacher = liveTeacher();
    const labels = [0, 1, 2, 3, 4, 0, 1, 2];
    const targets = oneHot(labels);
    const taps = new TeacherTaps(teacher);
    const before = tf.memory().numTensors;
    const plain = await synthesizeImages(teacher, { targets, steps: 150, seed: 4 });
    const moved = await synthesizeImages(teacher, { targets, steps: 150, seed: 4, jitter: 2, flip: true });
    const again = await synthesizeImages(teacher, { targets, steps: 150, seed: 4, jitter: 2, flip: true });
    const otherSeed = await synthesizeImages(teacher, { targets, steps: 150, seed: 5, jitter: 2, flip: true });
    expect(tf.memory().numTensors - before).toBe(4);
    expect(Array.from(again.dataSync())).toEqual(Array.from(moved.dataSync()));
    expect(tf.max(tf.abs(tf.sub(moved, plain))).dataSync()[0]).toBeGreaterThan(0.1);
    expect(tf.max(tf.abs(tf.sub(moved, otherSeed))).dataSync()[0]).toBeGreaterThan(0.1);
    // The images still score their targets as they are (unmoved).
    expect(hitsOf(taps, moved, labels)).toBe(8);
    tf.dispose([plain, moved, again, otherSeed]);
    taps.dispose();
  });

  it('smooths the images with a total-variation weight, still fitting their targets', async () => {
    const teacher = liveTeacher();
    const labels = [0, 1, 2, 3, 4, 0, 1, 2];
    const targets = oneHot(labels);
    const taps = new TeacherTaps(teacher);
    const before = tf.memory().numTensors;
    const style = { targets, steps: 150, seed: 4, inputRange: [-1, 1] as const };
    const rough = await synthesizeImages(teacher, style);
    const smooth = await synthesizeImages(teacher, { ...style, tvWeight: 1 });
    expect(tf.memory().numTensors - before).toBe(2);
    const tv = (x: tf.Tensor) => tf.tidy(() => totalVariation(x).dataSync()[0] as number);
    // Uniform noise in [-1, 1] starts at 2 · 2/3 (two directions, E(a - b)² = 2/3 each).
    expect(tv(rough)).toBeGreaterThan(0.5);
    expect(tv(smooth)).toBeLessThan(tv(rough) / 4);
    expect(hitsOf(taps, smooth, labels)).toBe(8);
    tf.dispose([rough, smooth]);
    taps.dispose();
  });

  it('starts from multi-scale noise when asked, still fitting the targets', async () => {
    const teacher = liveTeacher();
    const labels = [0, 1, 2, 3, 4, 0, 1, 2];
    const taps = new TeacherTaps(teacher);
    const style = {
      targets: oneHot(labels),
      seed: 4,
      inputRange: [-1, 1] as const,
      startingNoise: 'multiScale' as const,
    };
    const before = tf.memory().numTensors;
    // One step of a vanishing rate leaves the starting noise, that of the batch's seed.
    const start = await synthesizeImages(teacher, { ...style, steps: 1, learningRate: 1e-9 });
    const noise = startingPixels('multiScale', [8, 8, 8, 3], [-1, 1], 4);
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(start, noise))).dataSync()[0])).toBeLessThan(1e-6);
    const trained = await synthesizeImages(teacher, { ...style, steps: 150 });
    expect(tf.memory().numTensors - before).toBe(3);
    expect(hitsOf(taps, trained, labels)).toBe(8);
    tf.dispose([start, noise, trained]);
    taps.dispose();
  });

  it('names what is wrong', async () => {
    const teacher = tinySequential();
    await expect(synthesizeImages(teacher, { targets: oneHot([1]), startingNoise: 'pink' as never })).rejects.toThrow(
      `synthesizeImages: startingNoise must be one of 'white', 'multiScale', got "pink"`,
    );
    for (const option of ['tvWeight', 'bnsWeight'] as const) {
      for (const value of [-1, Number.POSITIVE_INFINITY, Number.NaN]) {
        await expect(synthesizeImages(teacher, { targets: oneHot([1]), [option]: value })).rejects.toThrow(
          `synthesizeImages: ${option} must be a finite number >= 0, got ${value}`,
        );
      }
    }
    for (const learningRate of [0, -0.1, Number.NaN]) {
      await expect(synthesizeImages(teacher, { targets: oneHot([1]), learningRate })).rejects.toThrow(
        `synthesizeImages: learningRate must be a finite number > 0, got ${learningRate}`,
      );
    }
    for (const jitter of [8, 1.5, -1]) {
      await expect(synthesizeImages(teacher, { targets: oneHot([1]), jitter })).rejects.toThrow(
        `synthesizeImages: jitter must be a whole number of pixels from 0 to less than the image side (8), got ${jitter}`,
      );
    }
    await expect(synthesizeImages(teacher, { targets: new Float32Array(7) })).rejects.toThrow(
      'targets must hold whole rows of 5 classes, got 7 values',
    );
    await expect(synthesizeImages(teacher, { targets: oneHot([1]), steps: 0 })).rejects.toThrow(
      'steps must be a positive integer, got 0',
    );
    const noBn = sequential({ layers: [layers.flatten({ inputShape: [4, 4, 3] }), layers.dense({ units: 5 })] });
    const before = tf.memory().numTensors;
    await expect(synthesizeImages(noBn, { targets: oneHot([1]) })).rejects.toThrow(/has no BatchNormalization layer/);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('FidelitySet and FidelityGuard', () => {
  it('scores agreement and KL by hand, plain and superposed apart', async () => {
    const teacher = liveTeacher();
    const set = await FidelitySet.synthesize(teacher, { images: 6, steps: 3, seed: 2 });
    expect([set.size, set.plain]).toEqual([6, 3]);
    // The teacher agrees with itself everywhere, with zero divergence.
    const self = set.measure(teacher);
    for (const part of [self.plain, self.superposed, self.all]) {
      expect(part.agreement).toBe(1);
      expect(part.kl).toBeCloseTo(0, 6);
    }
    // A student with the classifier scaled by 0 outputs uniform logits: KL = log 5 - H(teacher), argmax 0.
    const flat = await quantizeModel(teacher, { weightBits: 8, activationBits: 8 });
    tf.tidy(() => {
      flat.predict(tf.zeros([1, 8, 8, 3])); // calibrates its activation ranges
      flat.getLayer('fc').setWeights(
        flat
          .getLayer('fc')
          .getWeights()
          .map((w) => tf.zerosLike(w)),
      );
    });
    const images = (set as unknown as { images: tf.Tensor }).images;
    const probs = tf.softmax(teacher.predict(images) as tf.Tensor);
    const entropy = tf.neg(tf.sum(tf.mul(probs, tf.log(probs)), -1)).dataSync();
    const top = tf.argMax(probs, -1).dataSync();
    const fidelity = set.measure(flat);
    const expectedKl = (from: number, to: number) =>
      Array.from(entropy.slice(from, to)).reduce((a, h) => a + Math.log(5) - h, 0) / (to - from);
    const expectedAgreement = (from: number, to: number) =>
      Array.from(top.slice(from, to)).filter((c) => c === 0).length / (to - from);
    expect(fidelity.plain.kl).toBeCloseTo(expectedKl(0, 3), 5);
    expect(fidelity.superposed.kl).toBeCloseTo(expectedKl(3, 6), 5);
    expect(fidelity.all.kl).toBeCloseTo(expectedKl(0, 6), 5);
    expect(fidelity.all.agreement).toBeCloseTo(expectedAgreement(0, 6), 6);
    tf.dispose([probs]);
    flat.dispose();
    set.dispose();
  });

  it('keeps the best state and restores it; the last state stays when it was the best', async () => {
    const teacher = liveTeacher();
    const student = await quantizeModel(teacher, { weightBits: 8, activationBits: 8 });
    const set = await FidelitySet.synthesize(teacher, { images: 8, steps: 3 });
    const guard = new FidelityGuard(set, student);
    const values = () => student.getWeights().map((w) => Array.from(w.dataSync()));
    // Calibrate so the student predicts; a close copy is the best state.
    tf.tidy(() => student.predict(tf.randomNormal([8, 8, 8, 3], 0, 1, 'float32', 1)));
    const good = values();
    expect(guard.check(0).best).toBe(true);
    const fc = student.getLayer('fc');
    tf.tidy(() => fc.setWeights(fc.getWeights().map((w) => tf.mul(w, -3))));
    const worse = guard.check(10);
    expect(worse.best).toBe(false);
    expect(worse.fidelity.all.kl).toBeGreaterThan((guard.best?.fidelity.all.kl as number) + 1e-3);
    expect(guard.restoreBest().iteration).toBe(0);
    expect(values()).toEqual(good);
    const kept = tf.memory().numTensors;
    expect(guard.check(20).best).toBe(false); // the same state again: not strictly better
    expect(guard.restoreBest().iteration).toBe(0);
    expect(guard.history.map((c) => c.iteration)).toEqual([0, 10, 20]);
    expect(tf.memory().numTensors).toBe(kept);
    guard.dispose();
    expect(tf.memory().numTensors).toBe(kept - student.weights.length);
    expect(() => new FidelityGuard(set, student, 'loss' as never)).toThrow("criterion must be 'kl' or 'agreement'");
    expect(() => new FidelityGuard(set, student).restoreBest()).toThrow('restoreBest before any check');
    set.dispose();
    student.dispose();
  });
});
