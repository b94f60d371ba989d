// The paper's benchmark on one machine: quantize the ResNet-20 CIFAR-10 teacher without
// data, evaluate the student on the test set at checkpoints (not counted as training
// time) and at the end, and save it. One JSON line per checkpoint, then a summary line.
//   pnpm bench:cifar10 -- --method qimera --bits 4/4 --minutes 60
// The backend this script trains on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  type DataFreeReport,
  type DistillProgress,
  distill,
  type Fidelity,
  type ImageSource,
  inspectClassifier,
  methodDefaults,
  parseCifar10,
  quantizeDataFree,
  quantizeModel,
  SeededRandom,
  top1Accuracy,
  useFastestBackend,
  withFrozenActivationRanges,
} from 'qimera';
import { loadLayersModelFromFile, readScriptOptions, saveLayersModelToDir, scriptArguments } from 'qimera/node';
import { parseRunOptions } from './options.js';
import { type RealRoundingReport, roundOnRealImages } from './real_rounding.js';

const fail = (message: string): never => {
  console.error(`bench:cifar10: ${message}`);
  process.exit(2);
};
const shared = process.env.QIMERA_SHARED ?? resolve(fileURLToPath(new URL('../../../..', import.meta.url)), 'shared');
const options = readScriptOptions('bench:cifar10', () => parseRunOptions(scriptArguments(), shared));
const { method, weightBits, activationBits, minutes, iterations, realImages } = options;

const backend = await useFastestBackend(
  options.backend === 'auto' ? { log: console.error } : { prefer: options.backend, log: console.error },
);
const teacher = await loadLayersModelFromFile(options.teacher).catch((e: Error) =>
  fail(`cannot load the teacher: ${e.message}`),
);
const testFile = join(options.data, 'test_batch.bin');
const bytes = await readFile(testFile).catch(() => fail(`CIFAR-10 test batch not found: ${testFile}`));
const test = parseCifar10(new Uint8Array(bytes), { count: options.evalImages });
const fp = top1Accuracy((x) => teacher.predict(x) as Tensor, test);
console.error(`FP teacher: ${(100 * fp).toFixed(2)}% on ${test.count} test images`);

const controller = new AbortController();
let evalMs = 0;
let best = 0;
const trainingSeconds = (elapsedMs: number) => (elapsedMs - evalMs) / 1000;
const onProgress = (p: DistillProgress & { fidelity?: Fidelity | null }, current: LayersModel) => {
  if (p.iteration % options.evalEvery === 0) {
    // Training time up to this checkpoint: read before this evaluation's time is added.
    const seconds = trainingSeconds(p.elapsedMs);
    const started = Date.now();
    // In warm-up the ranges are still calibrating: test images must not move them.
    const accuracy = withFrozenActivationRanges(current, () => top1Accuracy((x) => current.predict(x) as Tensor, test));
    evalMs += Date.now() - started;
    best = Math.max(best, accuracy);
    // The latest fidelity check (every --guard-every iterations), next to the test accuracy.
    console.log(
      JSON.stringify({ iteration: p.iteration, phase: p.phase, seconds, accuracy, fidelity: p.fidelity ?? null }),
    );
  }
  if (minutes !== undefined && trainingSeconds(p.elapsedMs) >= minutes * 60) controller.abort();
};
// The same student schedule either way: the preset's, with the options given on top; a
// time budget runs it until the clock says stop.
const shape = inspectClassifier(teacher, { needsGenerator: false });
const defaults = methodDefaults(shape.numClasses, Math.max(shape.height, shape.width), options.preset);
const schedule = {
  batchSize: options.batchSize ?? defaults.batchSize,
  warmupEpochs: options.warmupEpochs ?? defaults.warmupEpochs,
  iterationsPerEpoch: options.iterationsPerEpoch ?? defaults.iterationsPerEpoch,
  studentLearningRate: options.studentLearningRate ?? defaults.studentLearningRate,
  studentLrSchedule: options.studentLrSchedule ?? defaults.studentLrSchedule,
  seed: options.seed,
  workers: options.workers,
};
const superposeAfter = options.superposeAfter ?? defaults.superposeAfter;
const quantization = {
  foldBatchNorm: options.foldBatchNorm,
  ...(options.firstLastBits !== undefined ? { firstLastBits: options.firstLastBits } : {}),
};
const training = { ...schedule, iterations: iterations ?? 80_000, signal: controller.signal, onProgress };
const reconstruction = {
  ...(options.learnSteps !== undefined ? { learnActivationSteps: options.learnSteps } : {}),
  ...(options.granularity !== undefined ? { granularity: options.granularity } : {}),
  ...(options.dropQuantization !== undefined ? { dropQuantization: options.dropQuantization } : {}),
  ...(options.reconstructionSteps !== undefined ? { iterations: options.reconstructionSteps } : {}),
};
const { student, report } = realImages
  ? method === 'adaround'
    ? await roundOnRealImages(teacher, await readTrainingImages(), {
        weightBits,
        activationBits,
        quantization,
        reconstruction: { ...reconstruction, seed: options.seed },
        ...(minutes !== undefined ? { minutes } : {}),
        ...(options.calibrationImages !== undefined ? { calibrationImages: options.calibrationImages } : {}),
        ...(options.reconstructionImages !== undefined ? { images: options.reconstructionImages } : {}),
      })
    : await distillOnRealImages()
  : await quantizeDataFree(teacher, {
      ...training,
      method,
      weightBits,
      activationBits,
      // Learned rounding shares the budget among the layers (training methods stop by the clock above).
      ...(method === 'adaround' && minutes !== undefined ? { minutes } : {}),
      backend: 'current',
      mapping: options.mapping,
      superposeAfter,
      start: options.start,
      guard: options.guard,
      guardEvery: options.guardEvery,
      quantization,
      ...(options.inputRange ? { inputRange: options.inputRange } : {}),
      ...(options.synthesisSteps !== undefined ? { synthesisSteps: options.synthesisSteps } : {}),
      ...(options.bnsWeight !== undefined ? { synthesisBnsWeight: options.bnsWeight } : {}),
      ...(options.synthesisTv !== undefined ? { synthesisTvWeight: options.synthesisTv } : {}),
      ...(options.synthesisNoise !== undefined ? { synthesisStartingNoise: options.synthesisNoise } : {}),
      ...(options.synthesisJitter !== undefined ? { synthesisJitter: options.synthesisJitter } : {}),
      ...(options.synthesisFlip ? { synthesisFlip: true } : {}),
      ...(options.calibrationImages !== undefined ? { calibrationImages: options.calibrationImages } : {}),
      reconstruction: {
        ...reconstruction,
        ...(options.reconstructionImages !== undefined ? { images: options.reconstructionImages } : {}),
      },
    }).then(({ model, report }) => ({
      student: model,
      report: report as DataFreeReport | RealImagesReport | RealRoundingReport,
    }));

/** The CIFAR-10 training images of data_batch_1, in the test set's normalisation. */
async function readTrainingImages() {
  const trainFile = join(options.data, 'data_batch_1.bin');
  const bytes = await readFile(trainFile).catch(() => fail(`CIFAR-10 training batch not found: ${trainFile}`));
  return parseCifar10(new Uint8Array(bytes));
}

/** The upper reference: the same student distillation on data_batch_1 images. */
async function distillOnRealImages() {
  const started = Date.now();
  const train = await readTrainingImages();
  const pixels = 32 * 32 * 3;
  const rng = new SeededRandom(options.seed);
  const images: ImageSource = (_, n) => {
    const batch = { images: new Float32Array(n * pixels), targets: new Float32Array(n * 10) };
    for (let i = 0; i < n; i++) {
      const k = rng.int(train.count);
      batch.images.set(train.images.subarray(k * pixels, (k + 1) * pixels), i * pixels);
      batch.targets[i * 10 + (train.labels[k] as number)] = 1;
    }
    return batch;
  };
  const student = await quantizeModel(teacher, { weightBits, activationBits, ...quantization });
  const result = await distill({ ...training, teacher, student, images });
  const report: RealImagesReport = { iterations: result.iterations, wallTimeMs: Date.now() - started };
  return { student, report };
}

interface RealImagesReport {
  iterations: number;
  wallTimeMs: number;
  fidelity?: undefined;
  start?: undefined;
}
const accuracy = top1Accuracy((x) => student.predict(x) as Tensor, test);
best = Math.max(best, accuracy);
const variant = `${options.foldBatchNorm ? '-foldbn' : ''}${options.firstLastBits ? `-ends${options.firstLastBits}` : ''}`;
const label = realImages ? (method === 'adaround' ? 'adaround-real-images' : 'real-images') : method;
const outDir = join(options.out, `${label}-w${weightBits}a${activationBits}${variant}-seed${options.seed}`);
await saveLayersModelToDir(student, outDir, { overwrite: true });
console.log(
  JSON.stringify({
    method: label,
    bits: options.bits,
    mapping: !realImages && method === 'qimera' && options.mapping,
    foldBatchNorm: options.foldBatchNorm,
    firstLastBits: options.firstLastBits ?? null,
    fp,
    accuracy,
    best,
    iterations: report.iterations,
    seconds: (report.wallTimeMs - evalMs) / 1000,
    fidelity: report.fidelity ?? null,
    startSeconds: report.start ? report.start.wallTimeMs / 1000 : null,
    backend,
    preset: options.preset,
    ...schedule,
    superposeAfter: realImages || method !== 'qimera' ? null : superposeAfter,
    start: realImages || method === 'minmax' || method === 'mse' || method === 'adaround' ? null : options.start,
    // null: the library's default.
    synthesis: realImages
      ? null
      : {
          inputRange: options.inputRange ?? null,
          steps: options.synthesisSteps ?? null,
          bnsWeight: options.bnsWeight ?? null,
          tvWeight: options.synthesisTv ?? null,
          startingNoise: options.synthesisNoise ?? null,
          jitter: options.synthesisJitter ?? null,
          flip: options.synthesisFlip,
          calibrationImages: options.calibrationImages ?? null,
        },
    reconstruction: report.start?.reconstruction
      ? {
          seconds: report.start.reconstruction.wallTimeMs / 1000,
          images: report.start.reconstructionImages,
          kept: report.start.reconstruction.layers.filter((l) => l.kept).length,
          layers: report.start.reconstruction.layers.length,
          iterations: report.start.reconstruction.layers.map((l) => l.iterations),
          learnedSteps: report.start.reconstruction.layers.reduce((n, l) => n + l.quantizers.length, 0),
          granularity: options.granularity ?? null,
          // null: the library's default.
          dropQuantization: options.dropQuantization ?? null,
        }
      : null,
    guard: realImages ? null : options.guard,
    saved: outDir,
  }),
);
