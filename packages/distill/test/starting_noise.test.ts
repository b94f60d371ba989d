import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { multiScaleNoise, startingPixels, totalVariation } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

/** Standard deviation, over the images, of each image's mean value (per channel). */
const imageMeanSpread = (x: tf.Tensor) =>
  tf.tidy(() => Math.sqrt(tf.moments(tf.mean(x, [1, 2])).variance.dataSync()[0] as number));
/** The squared total variation (vertical plus horizontal neighbours), a number. */
const tv = (x: tf.Tensor) => tf.tidy(() => totalVariation(x).dataSync()[0] as number);

describe('multiScaleNoise', () => {
  it('is one Gaussian draw for a single pixel', () => {
    const noise = multiScaleNoise([3, 1, 1, 2], { center: 0.5, std: 2 }, 9);
    const reference = tf.randomNormal([3, 1, 1, 2], 0.5, 2, 'float32', 9);
    expect(Array.from(noise.dataSync())).toEqual(Array.from(reference.dataSync()));
    tf.dispose([noise, reference]);
  });

  it('gives each image its own level and large-scale structure, as 1/f noise, reproducibly', () => {
    const before = tf.memory().numTensors;
    const shape: [number, number, number, number] = [256, 32, 32, 3];
    const multi = multiScaleNoise(shape, { center: 0.5, std: 1 }, 4);
    const white = startingPixels('white', shape, undefined, 4);
    expect(tf.memory().numTensors - before).toBe(2);
    // Six octaves (1x1 to 32x32) of variance 1/6 each: the 1x1 field alone moves an image's
    // mean by sqrt(1/6) = 0.41 (the coarser upsampled fields add a little); white N(0, 1)
    // noise by 1 / sqrt(32 · 32) = 0.03.
    expect(imageMeanSpread(multi)).toBeGreaterThan(0.38);
    expect(imageMeanSpread(multi)).toBeLessThan(0.55);
    expect(imageMeanSpread(white)).toBeLessThan(0.05);
    const { mean, variance } = tf.moments(multi);
    expect(mean.dataSync()[0]).toBeCloseTo(0.5, 1);
    // Below 1: bilinear upsampling lowers the coarse fields' variance between their points.
    expect(variance.dataSync()[0]).toBeGreaterThan(0.6);
    expect(variance.dataSync()[0]).toBeLessThan(1);
    // Neighbours differ mostly by the per-pixel field, 2 · 1/6 = 0.33 each way; white
    // noise by 2 each way.
    expect(tv(multi)).toBeLessThan(2 * 0.45);
    expect(tv(white)).toBeGreaterThan(2 * 1.8);
    const again = multiScaleNoise(shape, { center: 0.5, std: 1 }, 4);
    const other = multiScaleNoise(shape, { center: 0.5, std: 1 }, 5);
    expect(Array.from(again.dataSync())).toEqual(Array.from(multi.dataSync()));
    expect(tf.tidy(() => tf.max(tf.abs(tf.sub(other, multi))).dataSync()[0])).toBeGreaterThan(1);
    tf.dispose([multi, white, mean, variance, again, other]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('fits non-square images', () => {
    const noise = multiScaleNoise([2, 4, 16, 1], { center: 0, std: 1 }, 1);
    expect(noise.shape).toEqual([2, 4, 16, 1]);
    expect(Array.from(noise.dataSync()).every(Number.isFinite)).toBe(true);
    noise.dispose();
  });
});

describe('startingPixels', () => {
  it('stays in the input range, centred in it', () => {
    const shape: [number, number, number, number] = [64, 16, 16, 3];
    for (const noise of ['white', 'multiScale'] as const) {
      const pixels = startingPixels(noise, shape, [-1, 3], 2);
      const values = pixels.dataSync();
      expect(Math.min(...values)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...values)).toBeLessThanOrEqual(3);
      expect(tf.tidy(() => tf.mean(pixels).dataSync()[0])).toBeCloseTo(1, 1);
      pixels.dispose();
    }
  });
});
