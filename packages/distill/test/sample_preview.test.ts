import { createGenerator } from '@qimera/generator';
import { ClassEmbedding } from '@qimera/superposition';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { previewSamples } from '../src/index.js';

describe('previewSamples', () => {
  let models: { generator: LayersModel; embedding: ClassEmbedding; mapping: null };
  beforeAll(async () => {
    await useBackend('cpu');
    models = {
      generator: createGenerator({ imageSize: 8, channels: 3, inputDim: 4, baseChannels: 8, seed: 2 }),
      embedding: ClassEmbedding.random(100, 4, { seed: 2 }),
      mapping: null,
    };
  });
  afterAll(() => {
    models.generator.dispose();
    models.embedding.dispose();
  });

  it('spreads the shown classes over the class range and mixes each with the next one', () => {
    const before = tf.memory().numTensors;
    const { plain, superposed } = previewSamples(models, { count: 4 });
    expect(tf.memory().numTensors).toBe(before);
    expect(plain.mixes).toEqual([0, 25, 50, 75].map((c) => ({ classes: [c], coefficients: [1] })));
    expect(superposed.mixes.map((m) => m.classes)).toEqual([
      [0, 25],
      [25, 50],
      [50, 75],
      [75, 0],
    ]);
    expect(plain.shape).toEqual([4, 8, 8, 3]);
    expect(plain.images).toHaveLength(4 * 8 * 8 * 3);
    // Ten of each by default for 100 classes.
    expect(previewSamples(models).plain.mixes.map((m) => m.classes[0])).toEqual([
      0, 10, 20, 30, 40, 50, 60, 70, 80, 90,
    ]);
  });

  it('shows the same latents for a seed and other latents for another seed', () => {
    const a = previewSamples(models, { count: 3, seed: 5 });
    const b = previewSamples(models, { count: 3, seed: 5 });
    const c = previewSamples(models, { count: 3, seed: 6 });
    expect(b.plain.images).toEqual(a.plain.images);
    expect(b.superposed.images).toEqual(a.superposed.images);
    expect(c.plain.images).not.toEqual(a.plain.images);
  });

  it('refuses a count below 2 and a seed tfjs cannot take', () => {
    expect(() => previewSamples(models, { count: 1 })).toThrow('count must be an integer of at least 2, got 1');
    expect(() => previewSamples(models, { seed: 0 })).toThrow('seed must be a positive integer, got 0');
  });
});
