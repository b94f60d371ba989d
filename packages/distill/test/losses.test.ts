import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import {
  batchNormStatisticsLoss,
  cosineRate,
  distillationLoss,
  multiStepRate,
  softCrossEntropy,
  TeacherTaps,
  totalVariation,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));
const value = (t: tf.Tensor) => t.dataSync()[0] as number;

describe('losses against hand-computed values', () => {
  it('soft cross-entropy', () => {
    // Logits [0, ln 3] -> softmax [1/4, 3/4]; target [0.5, 0.5] -> -(0.5 ln 1/4 + 0.5 ln 3/4).
    // Second sample: logits [0, 0], one-hot -> ln 2. Mean of both.
    const logits = tf.tensor2d([
      [0, Math.log(3)],
      [0, 0],
    ]);
    const targets = tf.tensor2d([
      [0.5, 0.5],
      [1, 0],
    ]);
    const first = -(0.5 * Math.log(0.25) + 0.5 * Math.log(0.75));
    expect(value(softCrossEntropy(logits, targets))).toBeCloseTo((first + Math.log(2)) / 2, 5);
  });

  it('KD with temperature, mean over elements and batchmean', () => {
    // T = 2: teacher [0, 2 ln 3] / 2 -> p = [1/4, 3/4]; student [0, 0] -> q = [1/2, 1/2].
    // KL = 1/4 ln(1/2) + 3/4 ln(3/2). 'mean' divides by 2 elements, 'batchmean' by 1 sample; times T² = 4.
    const t = tf.tensor2d([[0, 2 * Math.log(3)]]);
    const s = tf.tensor2d([[0, 0]]);
    const kl = 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5);
    expect(value(distillationLoss(t, s, { temperature: 2 }))).toBeCloseTo((4 * kl) / 2, 5);
    expect(value(distillationLoss(t, s, { temperature: 2, reduction: 'batchmean' }))).toBeCloseTo(4 * kl, 5);
    expect(value(distillationLoss(t, s, { temperature: 2, alpha: 0.5, reduction: 'batchmean' }))).toBeCloseTo(
      2 * kl,
      5,
    );
    expect(value(distillationLoss(t, t, { temperature: 20 }))).toBeCloseTo(0, 6);
  });

  it('BN statistics loss', () => {
    const taps = [
      { layer: 'a', runningMean: tf.tensor1d([0, 1]), runningVariance: tf.tensor1d([1, 1]) },
      { layer: 'b', runningMean: tf.tensor1d([2]), runningVariance: tf.tensor1d([4]) },
    ];
    const stats = [
      { mean: tf.tensor1d([1, 1]), variance: tf.tensor1d([1, 3]) }, // MSE mean 0.5, MSE var 2
      { mean: tf.tensor1d([2]), variance: tf.tensor1d([1]) }, // 0 + 9
    ];
    expect(value(batchNormStatisticsLoss(stats, taps))).toBeCloseTo((2.5 + 9) / 2, 5);
    expect(() => batchNormStatisticsLoss(stats.slice(1), taps)).toThrow(/1 batch statistics for 2 BatchNorm layers/);
  });

  it('squared total variation, and its gradient', () => {
    // Two 2x3 images, one channel: [[0, 1, 3], [2, 4, 4]] and a flat one.
    // Vertical differences 2, 3, 1 and 0, 0, 0: mean of squares (4 + 9 + 1) / 6.
    // Horizontal 1, 2, 2, 0 and 0, 0, 0, 0: (1 + 4 + 4) / 8.
    const images = tf.tensor4d([0, 1, 3, 2, 4, 4, 5, 5, 5, 5, 5, 5], [2, 2, 3, 1]);
    expect(value(totalVariation(images))).toBeCloseTo(14 / 6 + 9 / 8, 5);
    expect(value(totalVariation(tf.fill([1, 4, 4, 3], 7)))).toBe(0);
    // d/dx of the first image's top-left pixel: vertical -2·2/6, horizontal -2·1/8.
    const grad = tf.grad((x: tf.Tensor) => totalVariation(x))(images);
    expect(grad.dataSync()[0]).toBeCloseTo(-4 / 6 - 2 / 8, 5);
    expect(() => totalVariation(tf.zeros([1, 1, 3, 1]))).toThrow(/h, w >= 2, got \[1,1,3,1\]/);
    expect(() => totalVariation(tf.zeros([3, 3]))).toThrow(/must be \[n, h, w, c\]/);
  });

  it('multi-step learning rate', () => {
    expect([0, 99, 100, 250, 300].map((e) => multiStepRate(1e-3, e, [100, 200, 300], 0.1))).toEqual([
      1e-3,
      1e-3,
      1e-3 * 0.1,
      1e-3 * 0.1 ** 2,
      1e-3 * 0.1 ** 3,
    ]);
  });
});

describe('TeacherTaps', () => {
  it('returns logits and the per-channel mean and biased variance of every BN input, by hand', () => {
    // Dense(2, identity kernel, no bias) -> BN: the BN input is the model input itself.
    const net = sequential();
    net.add(layers.dense({ inputShape: [2], units: 2, useBias: false, kernelInitializer: 'identity', name: 'd' }));
    net.add(layers.batchNormalization({ name: 'bn' }));
    net.layers[1]!.setWeights([tf.ones([2]), tf.zeros([2]), tf.tensor1d([0.5, -1]), tf.tensor1d([2, 3])]);
    const taps = new TeacherTaps(net);
    expect(
      taps.batchNorms.map((t) => [
        t.layer,
        Array.from(t.runningMean.dataSync()),
        Array.from(t.runningVariance.dataSync()),
      ]),
    ).toEqual([['bn', [0.5, -1], [2, 3]]]);
    const x = tf.tensor2d([
      [1, 2],
      [3, 6],
      [5, 1],
    ]);
    const { logits, stats } = taps.forward(x);
    // Channel 0: 1, 3, 5 -> mean 3, biased variance 8/3. Channel 1: 2, 6, 1 -> mean 3, variance 14/3.
    expect(Array.from(stats[0]!.mean.dataSync())).toEqual([3, 3]);
    const variance = Array.from(stats[0]!.variance.dataSync());
    expect(variance[0]).toBeCloseTo(8 / 3, 5);
    expect(variance[1]).toBeCloseTo(14 / 3, 5);
    // Logits equal the teacher's inference-mode output.
    expect(Array.from(logits.dataSync())).toEqual(Array.from((net.predict(x) as tf.Tensor).dataSync()));
    taps.dispose();
  });

  it('refuses a BN over a non-channel axis by name, allocating nothing', () => {
    const net = sequential();
    net.add(layers.conv2d({ inputShape: [4, 4, 1], filters: 2, kernelSize: 1, name: 'c' }));
    net.add(layers.batchNormalization({ name: 'bn' })); // valid, checked first
    net.add(layers.batchNormalization({ axis: 1, name: 'bn_rows' }));
    const before = tf.memory().numTensors;
    expect(() => new TeacherTaps(net)).toThrow(/'bn_rows' must normalise the last axis/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('finds every BN of a convolutional teacher, spatial positions included', () => {
    const net = sequential();
    net.add(layers.conv2d({ inputShape: [4, 4, 1], filters: 3, kernelSize: 1, name: 'c' }));
    net.add(layers.batchNormalization({ name: 'bn1' }));
    net.add(layers.flatten());
    net.add(layers.dense({ units: 4, name: 'fc' }));
    net.add(layers.batchNormalization({ name: 'bn2' }));
    const taps = new TeacherTaps(net);
    expect(taps.batchNorms.map((t) => t.layer)).toEqual(['bn1', 'bn2']);
    const x = tf.randomNormal([2, 4, 4, 1]);
    const { stats } = taps.forward(x);
    const convOut = net.layers[0]!.apply(x) as tf.Tensor;
    const expected = tf.moments(convOut, [0, 1, 2]);
    expect(Array.from(stats[0]!.mean.dataSync())).toEqual(Array.from(expected.mean.dataSync()));
    expect(stats[1]!.mean.shape).toEqual([4]);
    taps.dispose();
  });

  it('cosine learning rate: base at step 0, half way down at the middle, 0 from the end on', () => {
    const rates = [0, 25, 50, 75, 100, 120].map((step) => cosineRate(0.2, step, 100));
    const expected = [0.2, (0.2 * (1 + Math.SQRT1_2)) / 2, 0.1, (0.2 * (1 - Math.SQRT1_2)) / 2, 0, 0];
    rates.forEach((rate, i) => expect(rate).toBeCloseTo(expected[i] as number, 12));
  });
});
