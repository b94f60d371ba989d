import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinyBranchy, tinySequential } from '../../../test-support/models.js';
import {
  activationQuantizers,
  CALIBRATED_RANGES,
  calibrateActivationRanges,
  calibrateOnImages,
  correctBias,
  quantizeModel,
  reconstructRounding,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

const studentOf = (teacher: LayersModel) =>
  quantizeModel(teacher, { ...CALIBRATED_RANGES, weightBits: 4, activationBits: 4 });

/** Every weight of `model` (kernels, biases, activation ranges), as numbers. */
const weightsOf = (model: LayersModel) => model.getWeights().map((w) => Array.from(w.dataSync()));

describe('calibrateOnImages', () => {
  it('corrects biases and calibrates ranges on the first images exactly as the parts do, and keeps the images', async () => {
    const teacher = tinySequential();
    const images = tf.randomUniform([12, 8, 8, 3], -1, 1, 'float32', 5);
    const before = tf.memory().numTensors;

    const student = await studentOf(teacher);
    const report = await calibrateOnImages(teacher, student, images, { calibrationImages: 8, forwardBatchSize: 4 });
    expect(report.calibrationImages).toBe(8);
    expect(report.reconstructionImages).toBeNull();
    expect(report.reconstruction).toBeNull();
    expect(report.biasCorrection?.biases).toEqual(['c1', 'fc']);
    expect(activationQuantizers(student).every((q) => q.frozen)).toBe(true);

    // The same steps by hand on the first 8 images, in the same batches of 4.
    const byHand = await studentOf(teacher);
    const first = tf.slice(images, 0, 8);
    const batches = tf.split(first, [4, 4]);
    correctBias(byHand, teacher, first, 4);
    await calibrateActivationRanges(byHand, batches);
    tf.dispose([first, ...batches]);
    expect(weightsOf(student)).toEqual(weightsOf(byHand));

    // Calibrated on later images instead, biases and ranges differ: the first ones were used.
    const other = await studentOf(teacher);
    const last = tf.slice(images, 4, 8);
    await calibrateOnImages(teacher, other, last);
    last.dispose();
    expect(weightsOf(other)).not.toEqual(weightsOf(student));

    for (const m of [student, byHand, other]) m.dispose();
    expect(images.isDisposed).toBe(false);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });

  it('learns rounding on all the images with its seed, calibrating on all of them when fewer than asked for', async () => {
    const teacher = tinyBranchy();
    const images = tf.randomUniform([10, 9, 9, 3], -1, 1, 'float32', 7);
    const rounding = { iterations: 20, batchSize: 5, dropQuantization: 0.5, warmup: 0 };
    const before = tf.memory().numTensors;
    const round = async (seed: number) => {
      const student = await studentOf(teacher);
      const report = await calibrateOnImages(teacher, student, images, { reconstruction: rounding, seed });
      const weights = weightsOf(student);
      student.dispose();
      return { report, weights };
    };
    const { report, weights } = await round(2);
    expect(report.calibrationImages).toBe(10); // 64 asked for by default, 10 given
    expect(report.reconstructionImages).toBe(10);
    expect(report.reconstruction?.layers.every((l) => l.iterations === 20)).toBe(true);
    // The parts by hand: calibration on all 10, then rounding on all 10 with the seed.
    const byHand = await studentOf(teacher);
    const batches = tf.split(images, [10]);
    correctBias(byHand, teacher, images);
    await calibrateActivationRanges(byHand, batches);
    tf.dispose(batches);
    await reconstructRounding(byHand, teacher, images, { ...rounding, seed: 2 });
    expect(weights).toEqual(weightsOf(byHand));
    byHand.dispose();
    // Another seed, other drop masks, another rounding.
    expect((await round(3)).weights).not.toEqual(weights);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });

  it('refuses no images and a calibration count that is not a positive integer, naming it', async () => {
    const teacher = tinySequential();
    const student = await studentOf(teacher);
    const none = tf.zeros([0, 8, 8, 3]);
    const some = tf.zeros([2, 8, 8, 3]);
    await expect(calibrateOnImages(teacher, student, none)).rejects.toThrow(/at least one image/);
    await expect(calibrateOnImages(teacher, student, some, { calibrationImages: 0 })).rejects.toThrow(
      /calibrationImages must be a positive integer, got 0/,
    );
    await expect(calibrateOnImages(teacher, student, some, { calibrationImages: 1.5 })).rejects.toThrow(
      /calibrationImages/,
    );
    tf.dispose([none, some]);
    student.dispose();
  });
});
