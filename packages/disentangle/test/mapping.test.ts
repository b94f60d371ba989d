import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { createDisentanglementMapping, mapSlots } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

describe('disentanglement mapping', () => {
  it('maps every slot with the same Dense layer: [batch, slots, latent] -> [batch, slots, 100]', () => {
    const mapping = createDisentanglementMapping({ latentDim: 8, seed: 3 });
    const slots = tf.randomNormal([4, 2, 8], 0, 1, 'float32', 1) as tf.Tensor3D;
    const out = mapSlots(mapping, slots);
    expect(out.shape).toEqual([4, 2, 100]);
    const [kernel, bias] = mapping.getWeights() as [tf.Tensor, tf.Tensor];
    const bySlot = tf.add(tf.matMul(tf.reshape(slots, [8, 8]), kernel), bias);
    expect(tf.max(tf.abs(tf.sub(tf.reshape(out, [8, 100]), bySlot))).dataSync()[0]).toBeLessThan(1e-5);
    // PyTorch-style init: |w| <= 1/sqrt(fan_in).
    expect(tf.max(tf.abs(kernel)).dataSync()[0]).toBeLessThanOrEqual(1 / Math.sqrt(8) + 1e-6);
  });

  it('takes a custom width and rejects bad sizes', () => {
    expect(
      mapSlots(createDisentanglementMapping({ latentDim: 3, intermediateDim: 5 }), tf.ones([1, 1, 3])).shape,
    ).toEqual([1, 1, 5]);
    expect(() => createDisentanglementMapping({ latentDim: 0 })).toThrow(/latentDim must be a positive integer/);
  });
});
