import * as tf from '@tensorflow/tfjs-core';
import { initializers, type LayersModel, layers, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { recomputeBatchNormStatistics } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

const EPSILON = 1e-3;
// A 1x1 convolution mixing two channels into two: out = [x0 + 2 x1, 3 x0 - x1].
const MIX = [
  [1, 3],
  [2, -1],
];

// BN1 (on the images' two channels) -> 1x1 convolution -> BN2: BN2's input depends on BN1's statistics.
function twoBatchNorms(): LayersModel {
  const net = sequential();
  net.add(layers.batchNormalization({ name: 'bn1', inputShape: [2, 3, 2], epsilon: EPSILON }));
  net.add(
    layers.conv2d({
      name: 'mix',
      filters: 2,
      kernelSize: 1,
      useBias: false,
      kernelInitializer: initializers.constant({ value: 0 }),
    }),
  );
  net.add(layers.batchNormalization({ name: 'bn2', epsilon: EPSILON }));
  net.getLayer('mix').setWeights([tf.tensor4d(MIX.flat(), [1, 1, 2, 2])]);
  return net;
}

/** Per-channel mean and population variance of `[position][channel]` values. */
function moments(values: number[][]): { mean: number[]; variance: number[] } {
  const channels = (values[0] as number[]).length;
  const mean = Array.from(
    { length: channels },
    (_, c) => values.reduce((s, v) => s + (v[c] as number), 0) / values.length,
  );
  const variance = mean.map((m, c) => values.reduce((s, v) => s + ((v[c] as number) - m) ** 2, 0) / values.length);
  return { mean, variance };
}

function movingStatistics(net: LayersModel, name: string): { mean: number[]; variance: number[] } {
  const [, , mean, variance] = net.getLayer(name).getWeights();
  return { mean: Array.from((mean as tf.Tensor).dataSync()), variance: Array.from((variance as tf.Tensor).dataSync()) };
}

describe('recomputeBatchNormStatistics', () => {
  it("sets each BN's moving statistics to its input's over the images, the later ones after the earlier are set", () => {
    const net = twoBatchNorms();
    const pixels = Array.from({ length: 5 * 2 * 3 }, (_, i) => [Math.sin(i) * 3 + 1, Math.cos(2 * i) - 2]);
    const images = tf.tensor4d(pixels.flat(), [5, 2, 3, 2]);
    const before = tf.memory().numTensors;
    // Batches of 2 over 5 images: the last batch is partial.
    recomputeBatchNormStatistics(net, images, 2);
    expect(tf.memory().numTensors).toBe(before);

    const first = moments(pixels);
    const second = moments(
      pixels.map((p) => {
        const normalised = p.map(
          (v, c) => (v - (first.mean[c] as number)) / Math.sqrt((first.variance[c] as number) + EPSILON),
        );
        return [0, 1].map((out) => normalised.reduce((s, v, c) => s + v * (MIX[c]?.[out] as number), 0));
      }),
    );
    for (const [name, expected] of [
      ['bn1', first],
      ['bn2', second],
    ] as const) {
      const stats = movingStatistics(net, name);
      expected.mean.forEach((m, c) => expect(stats.mean[c]).toBeCloseTo(m, 4));
      expected.variance.forEach((v, c) => expect(stats.variance[c]).toBeCloseTo(v, 4));
    }
    // The second BN now normalises its input over these images to mean 0, variance ~1.
    const out = tf.tidy(() => tf.moments(net.predict(images) as tf.Tensor, [0, 1, 2]));
    Array.from(out.mean.dataSync()).forEach((m) => expect(m).toBeCloseTo(0, 4));
    tf.dispose([images, out.mean, out.variance]);
    net.dispose();
  });

  it('refuses a bad batch size, no images and non-finite inputs, naming the layer', () => {
    const net = twoBatchNorms();
    const images = tf.ones([2, 2, 3, 2]);
    const nan = tf.fill([2, 2, 3, 2], Number.NaN);
    const empty = tf.zeros([0, 2, 3, 2]);
    const before = tf.memory().numTensors;
    expect(() => recomputeBatchNormStatistics(net, images, 0)).toThrow(/batchSize must be a positive integer, got 0/);
    expect(() => recomputeBatchNormStatistics(net, empty)).toThrow(/no images given/);
    expect(() => recomputeBatchNormStatistics(net, nan)).toThrow(/input of 'bn1' has non-finite values/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([images, nan, empty]);
    net.dispose();
  });
});
