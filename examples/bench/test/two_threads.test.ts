import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { useFastestBackend } from 'qimera';
import { beforeAll, describe, expect, it } from 'vitest';
import { ResNetHalf } from '../src/resnet_half.js';
import { buildResNet20 } from '../src/resnets.js';
import { TwoThreadResNet } from '../src/two_threads.js';

beforeAll(() => useFastestBackend({ prefer: 'wasm', log: () => {} }));

const flat = (net: { getWeights(): tf.Tensor[] }) => net.getWeights().map((w) => Array.from(w.dataSync()));

/**
 * ResNet-20 with seeded kernels (the layers' initialisers are not seeded), so that the
 * comparison below is the same every run: two computations of one step differ by float
 * rounding, which can flip a ReLU whose input is within rounding of zero.
 */
function seededResNet20(seed: number) {
  const net = buildResNet20();
  const weights = net.weights.map((w, i) =>
    w.name.includes('kernel') ? tf.randomNormal(w.shape as number[], 0, 0.1, 'float32', seed + i) : w.read(),
  );
  net.setWeights(weights);
  tf.dispose(weights.filter((_, i) => net.weights[i]?.name.includes('kernel')));
  return net;
}

describe('TwoThreadResNet (the bench data-parallel training step)', () => {
  it('takes the same SGD step as one thread when both halves hold the same images', async () => {
    // Identical halves: each half's BatchNorm statistics and mean loss equal the whole
    // batch's, so the averaged gradient is the one-thread gradient.
    const image = tf.randomNormal([1, 32, 32, 3], 0, 1, 'float32', 5);
    const x = tf.concat([image, image]);
    const y = tf.oneHot(tf.tensor1d([3, 3], 'int32'), 10);
    const [parallel, reference] = [seededResNet20(7), buildResNet20()];
    reference.setWeights(parallel.getWeights());
    const before = flat(parallel);

    const single = new ResNetHalf(reference, 0.5);
    single.apply(single.gradients(x, y));
    const two = await TwoThreadResNet.start(parallel, 'wasm', 0.5);
    await two.trainStep(x, y);
    await two.forward(x);
    await two.dispose();

    const [got, want] = [flat(parallel), flat(reference)];
    expect(got.some((w, i) => w.some((v, k) => v !== before[i]?.[k]))).toBe(true); // it trained
    got.forEach((w, i) =>
      w.forEach((v, k) => {
        const expected = want[i]?.[k] as number;
        expect(Math.abs(v - expected)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(expected)));
      }),
    );
    single.dispose();
  });

  it('keeps the main thread tensor count flat across steps', async () => {
    const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 6);
    const y = tf.oneHot(tf.tensor1d([1, 7], 'int32'), 10);
    const two = await TwoThreadResNet.start(buildResNet20(), 'wasm', 0.1);
    await two.trainStep(x, y); // the first step creates the optimiser's state
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) {
      await two.trainStep(x, y);
      await two.forward(x);
    }
    expect(tf.memory().numTensors).toBe(before);
    await two.dispose();
  });

  it("rejects with the worker's error instead of hanging", async () => {
    await expect(TwoThreadResNet.start(buildResNet20(), 'no-such-backend', 0.1)).rejects.toThrow(
      /bench worker: .*no-such-backend/,
    );
  });
});
