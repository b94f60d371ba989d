import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinyBranchy, tinySequential } from '../../../test-support/models.js';
import {
  activationBytesPerImage,
  backendMemoryLimit,
  planMemory,
  planReconstruction,
  planTraining,
  reconstructionBytesPerImage,
} from '../src/memory_plan.js';
import { quantizeDataFree } from '../src/quantize_data_free.js';

beforeAll(() => useBackend('cpu'));

const MIB = 2 ** 20;
// tinySequential: conv 8x8x4, BN, ReLU (256 each), pool, flatten, dropout (64 each), dense 5.
const TINY_BYTES = 4 * (3 * 256 + 3 * 64 + 5);

describe('memory planning', () => {
  it("counts a model's layer outputs per image", () => {
    const teacher = tinySequential();
    expect(activationBytesPerImage(teacher)).toBe(TINY_BYTES);
    teacher.dispose();
  });

  it('knows the wasm heap, takes a given limit, and has none for other backends', () => {
    expect(backendMemoryLimit('wasm')).toBe(4 * 2 ** 30);
    expect(backendMemoryLimit('cpu')).toBeNull();
    expect(backendMemoryLimit('webgl', 512)).toBe(512 * MIB);
    expect(() => backendMemoryLimit('wasm', 0)).toThrow('memoryLimitMB must be a positive number, got 0');
    expect(() => backendMemoryLimit('wasm', Number.NaN)).toThrow('memoryLimitMB must be a positive number, got NaN');
  });

  it('sizes synthesis and calibration batches to 3/4 of the free memory, and names what does not fit', () => {
    const teacher = tinySequential();
    const inUse = tf.memory().numBytes;
    // Room for exactly 10 synthesized images (5x layer outputs) and 25 calibrated ones (2x).
    const limit = inUse + (10 * 5 * TINY_BYTES) / 0.75;
    expect(planMemory(teacher, 64, limit, true)).toEqual({
      limitBytes: limit,
      activationBytesPerImage: TINY_BYTES,
      synthesisBatch: 10,
      forwardBatch: 25,
    });
    expect(planMemory(teacher, 8, limit, true)).toMatchObject({ synthesisBatch: 8, forwardBatch: 8 });
    expect(planMemory(teacher, 64, null, true)).toMatchObject({ synthesisBatch: 64, forwardBatch: 64 });
    // A run that synthesizes nothing is planned (and refused) by its forward passes only.
    const forwardOnly = inUse + (2 * 2 * TINY_BYTES) / 0.75;
    expect(planMemory(teacher, 64, forwardOnly, false)).toMatchObject({ synthesisBatch: null, forwardBatch: 2 });
    expect(() => planMemory(teacher, 64, forwardOnly, true)).toThrow(/synthesizing images/);
    expect(() => planMemory(teacher, 64, inUse + 1000, true)).toThrow(
      /synthesizing images \(forward and backward through the teacher\) needs about 0 MiB per image for teacher 'tiny_seq'/,
    );
    teacher.dispose();
  });

  it('plans learned rounding: what it holds per image (1.5x) next to a step (10x its unit per image), halving the step to fit', () => {
    const teacher = tinySequential();
    // The image (8x8x3) and conv c1's input and output (8x8x3 + 8x8x4); the Dense's 64 + 5 are fewer.
    const perImage = 4 * (192 + 192 + 256);
    expect(reconstructionBytesPerImage(teacher)).toBe(perImage);
    // Its largest unit: c1's input and its quantized copy, c1, bn1 and r1's outputs.
    const stepPerImage = 4 * (2 * 192 + 3 * 256);
    // Room for 10 images (1.5x each) next to a step on 8 (10x the unit each).
    const step = 10 * 8 * stepPerImage;
    const limit = tf.memory().numBytes + (step + 10 * 1.5 * perImage) / 0.75;
    expect(planReconstruction(teacher, 10, 8, limit)).toEqual({ images: 10, stepBatch: 8 });
    expect(planReconstruction(teacher, 6, 8, limit)).toEqual({ images: 6, stepBatch: 8 });
    expect(planReconstruction(teacher, 256, 32, null)).toEqual({ images: 256, stepBatch: 32 });
    // A step of 32 does not leave room for 10 images: it halves to 16, then to its floor of 8.
    expect(planReconstruction(teacher, 10, 32, limit)).toEqual({ images: 10, stepBatch: 8 });
    // Below the floor of 8 it does not go: fewer images instead.
    expect(planReconstruction(teacher, 256, 8, limit)).toEqual({ images: 10, stepBatch: 8 });
    expect(() => planReconstruction(teacher, 256, 8, tf.memory().numBytes + step / 2)).toThrow(
      /learned rounding needs about 0 MiB per image for teacher 'tiny_seq'.+optimisation step of its largest layer on 8 images/,
    );
    teacher.dispose();
  });

  it('plans a step on the largest block with granularity block: a residual block computes more than its layers', () => {
    const teacher = tinyBranchy();
    // Layer-wise the stem's unit is the largest (its input twice, its conv, BN and ReLU
    // outputs: 2 x 243 + 3 x 486 = 1944 elements); block-wise the residual block, from
    // the stem's output to the Concatenate, with a quantized copy of each of its four
    // convolutions' inputs (4224).
    const held = 1.5 * reconstructionBytesPerImage(teacher);
    const images = (free: number, unit: number) => Math.floor((free - 10 * 8 * 4 * unit) / held);
    const limit = tf.memory().numBytes + 4e6;
    expect(planReconstruction(teacher, 1000, 8, limit, 'layer').images).toBe(images(3e6, 1944));
    expect(planReconstruction(teacher, 1000, 8, limit, 'block').images).toBe(images(3e6, 4224));
    // A step on 8 images of the block does not fit in 1 MB free; of a layer it does.
    const small = tf.memory().numBytes + 1e6 / 0.75;
    expect(planReconstruction(teacher, 1000, 8, small, 'layer').images).toBe(images(1e6, 1944));
    expect(() => planReconstruction(teacher, 1000, 8, small, 'block')).toThrow(
      /optimisation step of its largest block on 8 images/,
    );
    teacher.dispose();
  });

  it('plans training: the generator state in every heap, micro-batches where a share does not fit', () => {
    const teacher = tinySequential();
    const generator = { weights: 1000, activationsPerImage: 500 };
    const perImage = 5 * (4 * 500 + TINY_BYTES);
    const state = 16 * 1000;
    const limit = tf.memory().numBytes + (state + 12 * perImage) / 0.75;
    expect(planTraining(teacher, generator, 64, 1, limit)).toEqual({
      batchSize: 64,
      microBatchSize: 12,
      generatorStateBytes: state,
      bytesPerImage: perImage,
    });
    // Two workers take 32 each, still more than 12; 24 split in two fit, and so does 8.
    expect(planTraining(teacher, generator, 64, 2, limit).microBatchSize).toBe(12);
    expect(planTraining(teacher, generator, 24, 2, limit).microBatchSize).toBeNull();
    expect(planTraining(teacher, generator, 8, 1, limit).microBatchSize).toBeNull();
    expect(planTraining(teacher, generator, 64, 1, null).microBatchSize).toBeNull();
    // Not one image next to the generator state: refused with the figures.
    expect(() => planTraining(teacher, generator, 64, 1, tf.memory().numBytes + (state + perImage / 2) / 0.75)).toThrow(
      /leaving no room for one image/,
    );
    // 224x224 with the official generator: its 205M-weight first layer alone is 3.3 GB with Adam.
    const official = { weights: 512 * 128 * 56 * 56, activationsPerImage: 15e6 };
    expect(() => planTraining(teacher, official, 16, 2, 4 * 2 ** 30)).toThrow(
      /training does not fit the 'cpu' backend's 4096 MiB: the generator's weights, gradients and Adam states take 3136 MiB \(205520896 weights\)/,
    );
    teacher.dispose();
  });
});

describe('quantizeDataFree within a memory limit', () => {
  const tiny = {
    weightBits: 4,
    activationBits: 4,
    backend: 'current',
    iterations: 2,
    iterationsPerEpoch: 1,
    warmupEpochs: 1,
    generator: { baseChannels: 8 },
    calibrationImages: 8,
    fidelityImages: 8,
    synthesisSteps: 2,
    warn: () => {},
  } as const;

  it('keeps the batch, accumulates gradients over the micro-batches that fit, says so, and reports the plan', async () => {
    const teacher = tinySequential();
    const messages: string[] = [];
    const before = tf.memory().numTensors;
    const { model, report } = await quantizeDataFree(teacher, {
      ...tiny,
      batchSize: 64,
      memoryLimitMB: 3,
      log: (m) => messages.push(m),
    });
    const micro = report.memory.trainingMicroBatch as number;
    expect(micro).toBeGreaterThanOrEqual(1);
    expect(micro).toBeLessThan(64);
    expect(report.settings).toMatchObject({ batchSize: 64, microBatchSize: micro });
    expect(messages).toContain(
      "qimera: batch 64 does not fit the 'cpu' backend's memory in one pass; " +
        `accumulating gradients over passes of ${micro} images (about 0 MiB per image)`,
    );
    // A smaller micro-batch asked for is kept; none is planned without a limit.
    const asked = await quantizeDataFree(teacher, { ...tiny, batchSize: 64, memoryLimitMB: 3, microBatchSize: 2 });
    expect(asked.report.memory.trainingMicroBatch).toBe(2);
    const unlimited = await quantizeDataFree(teacher, { ...tiny, batchSize: 8 });
    expect(unlimited.report.memory.trainingMicroBatch).toBeNull();
    expect(unlimited.report.settings.microBatchSize).toBeNull();
    asked.model.dispose();
    unlimited.model.dispose();
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    teacher.dispose();
  });

  it('refuses, before any work, a run that cannot fit one image', async () => {
    const teacher = tinySequential();
    const before = tf.memory().numTensors;
    await expect(quantizeDataFree(teacher, { ...tiny, memoryLimitMB: 0.01 })).rejects.toThrow(
      /quantizeDataFree: synthesizing images .* has -?\d+ MiB usable of 0 MiB/,
    );
    expect(tf.memory().numTensors).toBe(before);
    teacher.dispose();
  });

  it('turns a wasm RuntimeError into an error naming what was running', async () => {
    const teacher = tinySequential();
    const before = tf.memory().numTensors;
    // The error tfjs-wasm throws when its heap runs out (the type is not in the TS lib used).
    const { RuntimeError } = (globalThis as unknown as { WebAssembly: { RuntimeError: new (m: string) => Error } })
      .WebAssembly;
    const crash = () => {
      throw new RuntimeError('memory access out of bounds');
    };
    await expect(quantizeDataFree(teacher, { ...tiny, onProgress: crash })).rejects.toThrow(
      "quantizeDataFree: the 'cpu' backend failed while training (memory access out of bounds); its memory is likely exhausted",
    );
    expect(tf.memory().numTensors).toBe(before);
    // A corrupt heap fails the clean-up too: the first error is still the one reported.
    let student: { dispose: () => void } | null = null;
    const crashWithHeap = (_: unknown, current: { dispose: () => void }) => {
      student = current;
      const release = current.dispose.bind(current);
      current.dispose = () => {
        release();
        throw new RuntimeError('memory access out of bounds (in free)');
      };
      crash();
    };
    await expect(quantizeDataFree(teacher, { ...tiny, onProgress: crashWithHeap })).rejects.toThrow(
      "quantizeDataFree: the 'cpu' backend failed while training (memory access out of bounds); its memory is likely exhausted",
    );
    expect(student).not.toBeNull();
    expect(tf.memory().numTensors).toBe(before);
    teacher.dispose();
  });
});
