import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import {
  ClassEmbedding,
  normalizeEmbeddings,
  SeededRandom,
  sampleLabels,
  sliceLabels,
  superposedLatent,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

describe('sampleLabels', () => {
  const options = { batchSize: 50, numClasses: 10, superposeProbability: 0.4, slots: 3 };

  it('plain batches: one class, one-hot targets; superposed: K slots, soft targets summing to 1', () => {
    const rng = new SeededRandom(5);
    let seenPlain = false;
    let seenSuperposed = false;
    for (let i = 0; i < 40; i++) {
      const b = sampleLabels(rng, options);
      expect(b.classes.length).toBe(50 * b.slots);
      for (let s = 0; s < 50; s++) {
        const row = Array.from(b.targets.subarray(s * 10, s * 10 + 10));
        expect(row.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
        const lambdas = Array.from(b.coefficients.subarray(s * b.slots, (s + 1) * b.slots));
        expect(lambdas.reduce((a, v) => a + v, 0)).toBeCloseTo(1, 5);
        // Scatter-add: each class's target is the sum of its slots' coefficients.
        for (let c = 0; c < 10; c++) {
          let expected = 0;
          for (let k = 0; k < b.slots; k++) if (b.classes[s * b.slots + k] === c) expected += lambdas[k] as number;
          expect(row[c]).toBeCloseTo(expected, 6);
        }
      }
      if (b.superposed) {
        seenSuperposed = true;
        expect(b.slots).toBe(3);
      } else {
        seenPlain = true;
        expect(b.slots).toBe(1);
        expect(Array.from(b.coefficients).every((v) => v === 1)).toBe(true);
      }
    }
    expect(seenPlain && seenSuperposed).toBe(true);
  });

  it('superposes with frequency near p and draws classes uniformly', () => {
    const rng = new SeededRandom(9);
    let superposed = 0;
    const counts = new Array(10).fill(0);
    const draws = 2000;
    for (let i = 0; i < draws; i++) {
      const b = sampleLabels(rng, { ...options, batchSize: 5 });
      if (b.superposed) superposed++;
      for (const c of b.classes) counts[c]++;
    }
    // Binomial(2000, 0.4): sd ≈ 22, so ±0.04 is about 3.6 sd.
    expect(Math.abs(superposed / draws - 0.4)).toBeLessThan(0.04);
    const total = counts.reduce((a, v) => a + v, 0);
    for (const c of counts) expect(Math.abs(c / total - 0.1)).toBeLessThan(0.015);
    expect(sampleLabels(new SeededRandom(1), { ...options, superposeProbability: 0 }).superposed).toBe(false);
  });

  it('is reproducible for a seed and rejects bad options', () => {
    const a = sampleLabels(new SeededRandom(3), options);
    const b = sampleLabels(new SeededRandom(3), options);
    expect(b).toEqual(a);
    expect(() => sampleLabels(new SeededRandom(1), { ...options, slots: 0 })).toThrow(
      /slots must be a positive integer/,
    );
    expect(() => sampleLabels(new SeededRandom(1), { ...options, superposeProbability: 1.5 })).toThrow(
      /superposeProbability must be in \[0, 1\]/,
    );
  });
});

describe('sliceLabels', () => {
  it('takes samples from..to of every array, and refuses empty or out-of-range slices', () => {
    const labels = sampleLabels(new SeededRandom(4), {
      batchSize: 5,
      numClasses: 3,
      superposeProbability: 1,
      slots: 2,
    });
    const middle = sliceLabels(labels, 1, 4);
    expect(middle).toMatchObject({ batchSize: 3, numClasses: 3, slots: 2, superposed: true });
    expect(Array.from(middle.classes)).toEqual(Array.from(labels.classes.slice(2, 8)));
    expect(Array.from(middle.coefficients)).toEqual(Array.from(labels.coefficients.slice(2, 8)));
    expect(Array.from(middle.targets)).toEqual(Array.from(labels.targets.slice(3, 12)));
    expect(() => sliceLabels(labels, 2, 2)).toThrow('sliceLabels: need 0 <= from < to <= 5, got 2 and 2');
    expect(() => sliceLabels(labels, 0, 6)).toThrow('sliceLabels: need 0 <= from < to <= 5, got 0 and 6');
  });
});

describe('ClassEmbedding', () => {
  it('random: seeded N(0, 1); lookup gathers rows', () => {
    const e = ClassEmbedding.random(4, 3, { seed: 2 });
    expect(e.table.shape).toEqual([4, 3]);
    const rows = e.lookup(Int32Array.from([3, 0, 3]));
    const table = e.table.arraySync() as number[][];
    expect(rows.arraySync()).toEqual([table[3], table[0], table[3]]);
    expect(ClassEmbedding.random(4, 3, { seed: 2 }).table.arraySync()).toEqual(table);
    e.dispose();
  });

  it("from the classifier: one row per class from the last Dense kernel's columns, or a clear error", () => {
    const net = sequential();
    net.add(layers.dense({ inputShape: [3], units: 2, name: 'logits' }));
    net.layers[0]!.setWeights([tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]), tf.zeros([2])]);
    const e = ClassEmbedding.fromClassifier(net, { trainable: false });
    expect(e.table.arraySync()).toEqual([
      [1, 3, 5],
      [2, 4, 6],
    ]);
    expect(e.trainable).toBe(false);
    expect(() => ClassEmbedding.fromClassifier(net, { expectedDim: 64 })).toThrow(
      /layer 'logits' has 3 input features, but the embedding needs dim 64/,
    );
    const noDense = sequential({ layers: [layers.flatten({ inputShape: [2, 2] })] });
    expect(() => ClassEmbedding.fromClassifier(noDense)).toThrow(/has no Dense layer/);
  });
});

describe('normalizeEmbeddings and superposedLatent', () => {
  it("'official': per sample for one slot, per slot over batch and dims for several; 'per-sample' always per sample", () => {
    const x = tf.tensor3d([1, 2, 3, 10, 20, 30, 5, 5, 8, 0, 1, 2], [2, 2, 3]);
    const stats = (t: tf.Tensor, axes: number[]) => tf.moments(t, axes);
    const official = normalizeEmbeddings(x, 'official');
    const m = stats(official, [0, 2]);
    Array.from(m.mean.dataSync()).forEach((v) => expect(v).toBeCloseTo(0, 5));
    Array.from(m.variance.dataSync()).forEach((v) => expect(v).toBeCloseTo(1, 3));
    const perSample = stats(normalizeEmbeddings(x, 'per-sample'), [2]);
    Array.from(perSample.mean.dataSync()).forEach((v) => expect(v).toBeCloseTo(0, 5));
    Array.from(perSample.variance.dataSync()).forEach((v) => expect(v).toBeCloseTo(1, 3));
    // One slot: 'official' equals 'per-sample'.
    const single = tf.tensor3d([1, 2, 4, 3, 3, 9], [2, 1, 3]);
    expect(normalizeEmbeddings(single, 'official').arraySync()).toEqual(
      normalizeEmbeddings(single, 'per-sample').arraySync(),
    );
  });

  it('sums mapped slots with the coefficients (zero noise, identity-like mapping)', () => {
    const e = ClassEmbedding.random(3, 4, { seed: 4 });
    const labels = {
      batchSize: 1,
      numClasses: 3,
      superposed: true,
      slots: 2,
      classes: Int32Array.from([0, 2]),
      coefficients: Float32Array.from([0.25, 0.75]),
      targets: Float32Array.from([0.25, 0, 0.75]),
    };
    const latent = superposedLatent(labels, e, {
      noiseScale: 0,
      noiseSeed: 1,
      normalization: 'per-sample',
      mapSlots: (s) => tf.mul(s, 2),
    });
    const rows = normalizeEmbeddings(tf.reshape(e.lookup(labels.classes), [1, 2, 4]) as tf.Tensor3D, 'per-sample');
    const expected = tf.sum(tf.mul(tf.mul(rows, 2), tf.tensor3d([0.25, 0.75], [1, 2, 1])), 1);
    const got = Array.from(latent.dataSync());
    Array.from(expected.dataSync()).forEach((v, i) => expect(got[i]).toBeCloseTo(v, 5));
    expect(latent.shape).toEqual([1, 4]);
    // The embedding receives gradients through the latent.
    const { grads } = tf.variableGrads(
      () => tf.sum(tf.square(superposedLatent(labels, e, { noiseSeed: 3 }))) as tf.Scalar,
      [e.table],
    );
    const rows0and2 = tf.gather(grads[e.table.name] as tf.Tensor, [0, 2]);
    expect(tf.sum(tf.abs(rows0and2)).dataSync()[0]).toBeGreaterThan(0);
    // Class 1 is in no slot: no gradient.
    expect(Array.from(tf.gather(grads[e.table.name] as tf.Tensor, [1]).dataSync())).toEqual([0, 0, 0, 0]);
    e.dispose();
  });
});
