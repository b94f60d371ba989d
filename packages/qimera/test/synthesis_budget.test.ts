import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import { imagesWithinBudget, msPerSynthesizedImage, quantizeDataFree } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

describe('synthesis within a time budget', () => {
  it('fits a share of the budget, between the minimum and what was asked for', () => {
    // 10% of 10 minutes at 1 s an image: 60 images.
    expect(imagesWithinBudget(128, 1000, 600_000, 0.1, 2)).toBe(60);
    expect(imagesWithinBudget(40, 1000, 600_000, 0.1, 2)).toBe(40);
    // 100 s an image: not even one fits; the minimum is kept.
    expect(imagesWithinBudget(128, 100_000, 600_000, 0.1, 2)).toBe(2);
  });

  it('times synthesis per image without leaving tensors', async () => {
    const teacher = tinySequential();
    const before = tf.memory().numTensors;
    const ms = await msPerSynthesizedImage(teacher, 4, 20, { inputRange: [0, 1] });
    expect(ms).toBeGreaterThan(0);
    expect(Number.isFinite(ms)).toBe(true);
    expect(tf.memory().numTensors).toBe(before);
    teacher.dispose();
  });

  it('quantizeDataFree synthesizes fewer images when they would not fit the minutes it was given', async () => {
    const teacher = tinySequential();
    const before = tf.memory().numTensors;
    const run = async (minutes: number) => {
      const logged: string[] = [];
      const { model, report } = await quantizeDataFree(teacher, {
        weightBits: 4,
        activationBits: 4,
        method: 'mse',
        minutes,
        calibrationImages: 32,
        fidelityImages: 16,
        synthesisSteps: 5,
        backend: 'current',
        log: (m) => logged.push(m),
      });
      model.dispose();
      return { images: report.start?.images, logged };
    };
    // A budget of 6 ms: the minimum of each set.
    const short = await run(0.0001);
    expect(short.images).toBe(16);
    expect(short.logged).toEqual(
      expect.arrayContaining([
        expect.stringContaining('synthesizing 2 of 16 fidelity images to fit the 0.0001-minute budget'),
        expect.stringContaining('synthesizing 16 of 32 calibration images to fit the 0.0001-minute budget'),
      ]),
    );
    const long = await run(60);
    expect(long.images).toBe(32);
    expect(long.logged.filter((m) => m.includes('to fit the'))).toEqual([]);
    expect(tf.memory().numTensors).toBe(before);
    teacher.dispose();
  });
});
