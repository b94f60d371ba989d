import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import {
  type DataFreeOptions,
  type DistillCheckpoint,
  quantizeDataFree,
  registerWasmTrainingKernels,
} from '../src/index.js';
import {
  checkpointFolder,
  loadCheckpoint,
  loadLayersModelFromFile,
  ModelFileError,
  saveCheckpoint,
} from '../src/node.js';

const TEACHER = fileURLToPath(new URL('../../../examples/mnist/fixtures/teacher/model.json', import.meta.url));
let teacher: LayersModel;
beforeAll(async () => {
  await useBackend('wasm');
  registerWasmTrainingKernels();
  teacher = await loadLayersModelFromFile(TEACHER);
});

/** A short seeded qimera run on the MNIST teacher: calibrated start, warm-up, training. */
const run = (extra: Partial<DataFreeOptions> = {}) =>
  quantizeDataFree(teacher, {
    weightBits: 4,
    activationBits: 4,
    iterations: 7,
    batchSize: 8,
    iterationsPerEpoch: 2,
    warmupEpochs: 1,
    lrMilestones: [],
    generator: { baseChannels: 8 },
    calibrationImages: 16,
    synthesisSteps: 4,
    fidelityImages: 0,
    workers: 1,
    seed: 2,
    backend: 'current',
    warn: () => {},
    ...extra,
  });

const weightBits = (model: LayersModel) =>
  model.getWeights().map((w) => Array.from(new Uint32Array(Float32Array.from(w.dataSync()).buffer)));

describe('checkpoints in a folder', () => {
  it('a run stopped after a checkpoint and resumed from the folder ends with the uninterrupted weights', async () => {
    const never = await run();
    const expected = weightBits(never.model);
    never.model.dispose();

    const dir = join(mkdtempSync(join(tmpdir(), 'qimera-checkpoint-')), 'state');
    const controller = new AbortController();
    const every3 = checkpointFolder(dir, { everyIterations: 3 });
    const stopped = await run({
      signal: controller.signal,
      checkpoint: {
        ...every3,
        save: async (checkpoint) => {
          await every3.save(checkpoint);
          controller.abort();
        },
      },
    });
    stopped.model.dispose();
    expect(stopped.report).toMatchObject({ iterations: 3, aborted: true });
    expect(readdirSync(dir).sort()).toEqual(['checkpoint.json', 'tensors.bin']);

    const before = tf.memory().numTensors;
    const checkpoint = await loadCheckpoint(dir);
    expect(checkpoint.iteration).toBe(3);
    const resumed = await run({ resumeFrom: checkpoint, checkpoint: checkpointFolder(dir) });
    expect(resumed.report).toMatchObject({ iterations: 7, aborted: false, start: null });
    expect(weightBits(resumed.model)).toEqual(expected);
    resumed.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    // The run's end was saved too.
    expect((await loadCheckpoint(dir)).iteration).toBe(7);
  });

  it('round-trips every tensor exactly and refuses damaged or foreign folders by name', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'qimera-checkpoint-')), 'state');
    let saved: DistillCheckpoint | undefined;
    const stopped = await run({
      iterations: 3,
      checkpoint: {
        save: (c) => {
          saved = c;
        },
      },
    });
    stopped.model.dispose();
    const checkpoint = saved as DistillCheckpoint;
    await saveCheckpoint(dir, checkpoint);
    expect(await loadCheckpoint(dir)).toEqual(checkpoint);

    const tensors = join(dir, 'tensors.bin');
    const bytes = readFileSync(tensors);
    bytes[17] = (bytes[17] as number) ^ 4;
    writeFileSync(tensors, bytes);
    await expect(loadCheckpoint(dir)).rejects.toThrow(
      `${tensors}: does not match the SHA-256 recorded in checkpoint.json: damaged or replaced`,
    );
    const state = join(dir, 'checkpoint.json');
    writeFileSync(state, JSON.stringify({ ...JSON.parse(readFileSync(state, 'utf8')), version: 9 }));
    await saveCheckpoint(dir, checkpoint);
    writeFileSync(state, JSON.stringify({ ...JSON.parse(readFileSync(state, 'utf8')), version: 9 }));
    await expect(loadCheckpoint(dir)).rejects.toThrow(
      /checkpoint\.json: not a checkpoint this version reads: .*version 9/,
    );
    writeFileSync(join(dir, 'notes.txt'), 'mine');
    await expect(saveCheckpoint(dir, checkpoint)).rejects.toThrow(ModelFileError);
    await expect(loadCheckpoint(join(dir, 'absent'))).rejects.toThrow('checkpoint file not found');
    await expect(run({ method: 'mse', resumeFrom: checkpoint })).rejects.toThrow(
      "checkpoint and resumeFrom apply to 'qimera' and 'gdfq', not 'mse'",
    );
  });
});
