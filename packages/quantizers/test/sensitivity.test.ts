import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinyBranchy } from '../../../test-support/models.js';
import { quantizerSensitivity } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

describe('quantizerSensitivity', () => {
  it('measures a kernel alone against hand-computed logits', async () => {
    // Columns (output channels) [0, 0.4, 3] and [0, 1, 3]: on a 2-bit grid of step 1
    // the first becomes [0, 0, 3], the second stays; input [1, 1, 1].
    const net = sequential({ layers: [layers.dense({ name: 'fc', units: 2, useBias: false, inputShape: [3] })] });
    net.getLayer('fc').setWeights([
      tf.tensor2d([
        [0, 0],
        [0.4, 1],
        [3, 3],
      ]),
    ]);
    const images = tf.tensor2d([[1, 1, 1]]);
    const before = tf.memory().numTensors;
    const [entry, ...rest] = await quantizerSensitivity(net, { weightBits: 2, activationBits: 8 }, images);
    const softmax = (z: number[]) => z.map((v) => Math.exp(v) / z.reduce((s, w) => s + Math.exp(w), 0));
    const p = softmax([3.4, 4]);
    const q = softmax([3, 4]);
    const kl = p.reduce((s, pi, i) => s + pi * Math.log(pi / (q[i] as number)), 0);
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({ layer: 'fc', kind: 'kernel', bits: 2, agreement: 1 });
    expect(entry?.kl).toBeCloseTo(kl, 5);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    net.dispose();
  });

  it('lists every kernel and activation once, at its own bits, skipping what the config skips', async () => {
    const net = tinyBranchy();
    const images = tf.randomUniform([12, 9, 9, 3], -1, 1, 'float32', 3);
    const before = tf.memory().numTensors;
    const seen: number[] = [];
    const low = await quantizerSensitivity(
      net,
      { weightBits: 3, activationBits: 3, layers: { skip: { skip: true }, pw: { weightBits: 5 } } },
      images,
      { batchSize: 5, onMeasured: (_, index, total) => seen.push(index, total) },
    );
    expect(low.map((e) => `${e.layer}:${e.kind}:${e.bits}`)).toEqual([
      'stem:kernel:3',
      'stem_relu:activation:3',
      'down:kernel:3',
      'dw:kernel:3',
      'dw:activation:3',
      'pw:kernel:5',
      'sum_relu6:activation:3',
      'logits:kernel:3',
    ]);
    expect(seen).toEqual(low.flatMap((_, i) => [i, 8]));
    // Nearly float: nothing changes; at 2 bits everything moves the outputs more.
    const wide = await quantizerSensitivity(net, { weightBits: 16, activationBits: 16 }, images);
    const narrow = await quantizerSensitivity(net, { weightBits: 2, activationBits: 2 }, images);
    for (const entry of wide) {
      expect(entry.kl).toBeLessThan(1e-6);
      expect(entry.agreement).toBe(1);
    }
    const total = (entries: typeof wide) => entries.reduce((s, e) => s + e.kl, 0);
    expect(total(narrow)).toBeGreaterThan(100 * total(wide));
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
    net.dispose();
  });

  it('stops between quantizers when aborted, returning what it measured', async () => {
    const net = tinyBranchy();
    const images = tf.randomUniform([4, 9, 9, 3], -1, 1, 'float32', 3);
    const controller = new AbortController();
    const measured = await quantizerSensitivity(net, { weightBits: 4, activationBits: 4 }, images, {
      signal: controller.signal,
      onMeasured: (_, index) => index === 1 && controller.abort(),
    });
    expect(measured.map((e) => e.layer)).toEqual(['stem', 'stem_relu']);
    images.dispose();
    net.dispose();
  });
});
