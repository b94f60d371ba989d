// A real model no one here trained: fetch a public npm package that ships a large tfjs
// LayersModel, unpack it, quantize it without data at several bit widths and report
// top-1 agreement with the float model on natural images (CIFAR-10 test images
// upscaled to the model's input: natural photos, not the model's own domain) and the
// artifact sizes. One JSON line per run (and seed), then a table:
//   pnpm --filter @qimera/example-npm-models quantize -- --package nsfwjs@4.4.0 --model dist/models/mobilenet_v2
// The backend this script runs on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-layers';
import {
  DATA_FREE_METHODS,
  type DataFreeMethod,
  exportQuantized,
  logitsView,
  meanFidelity,
  parseCifar10,
  quantizeDataFree,
  RECONSTRUCTION_GRANULARITIES,
  STARTING_NOISES,
  useFastestBackend,
} from 'qimera';
import {
  bitsOption,
  bitWidthOption,
  choiceOption,
  loadLayersModelFromFile,
  nonNegativeInteger,
  positiveInteger,
  positiveNumber,
  probabilityOption,
  rangeOption,
  readScriptOptions,
  scriptArguments,
  workersOption,
} from 'qimera/node';
import { npmLayersModel } from './npm_model.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const shared = process.env.QIMERA_SHARED ?? resolve(here, '../../../../shared');
const options = readScriptOptions('quantize', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      package: { type: 'string', default: 'nsfwjs@4.4.0' },
      model: { type: 'string', default: 'dist/models/mobilenet_v2' },
      bits: { type: 'string', default: '8/8,6/6,4/4' },
      methods: { type: 'string', default: 'minmax,mse' },
      images: { type: 'string', default: '200' },
      'calibration-images': { type: 'string', default: '32' },
      steps: { type: 'string', default: '10' },
      'fidelity-images': { type: 'string', default: '0' },
      'bias-correction': { type: 'string', default: 'on' },
      // nsfwjs's models take pixels in [0, 1]; another package's model may not.
      'input-range': { type: 'string' },
      'bns-weight': { type: 'string' },
      // Weight of the smoothness prior on synthesized images (squared total variation).
      'synthesis-tv': { type: 'string' },
      // 'multiScale': synthesized images start from noise with large-scale structure.
      'synthesis-noise': { type: 'string' },
      // Shifts and mirror images while synthesizing (DeepInversion's); they need the input range.
      'synthesis-jitter': { type: 'string' },
      'synthesis-flip': { type: 'boolean', default: false },
      // How learned rounding ('adaround') cuts the model: 'layer' or 'block'.
      granularity: { type: 'string' },
      // QDrop: the probability that an activation stays in float in a learned-rounding step.
      'drop-quantization': { type: 'string' },
      // 8 keeps the network's ends at 8 bits, as published W4A4 results do.
      'first-last-bits': { type: 'string' },
      minutes: { type: 'string' },
      // Several seeds give each setting's spread: on 200 images one run moves by points.
      seeds: { type: 'string', default: '1' },
      workers: { type: 'string', default: '1' },
      data: { type: 'string', default: join(shared, 'datasets/cifar-10-batches-bin') },
    },
  });
  return {
    package: values.package,
    model: values.model,
    bits: values.bits
      .split(',')
      .map((b) => bitsOption(b, { max: 8 }) as { weightBits: number; activationBits: number }),
    methods: values.methods.split(',').map((m) => choiceOption(m, '--methods', DATA_FREE_METHODS) as DataFreeMethod),
    images: positiveInteger(values.images, '--images') as number,
    calibrationImages: positiveInteger(values['calibration-images'], '--calibration-images') as number,
    steps: positiveInteger(values.steps, '--steps') as number,
    fidelityImages: nonNegativeInteger(values['fidelity-images'], '--fidelity-images') as number,
    biasCorrection: choiceOption(values['bias-correction'], '--bias-correction', ['on', 'off'] as const) === 'on',
    inputRange: rangeOption(values['input-range'], '--input-range'),
    bnsWeight: positiveNumber(values['bns-weight'], '--bns-weight'),
    synthesisTv: positiveNumber(values['synthesis-tv'], '--synthesis-tv'),
    synthesisNoise: choiceOption(values['synthesis-noise'], '--synthesis-noise', STARTING_NOISES),
    synthesisJitter: nonNegativeInteger(values['synthesis-jitter'], '--synthesis-jitter'),
    synthesisFlip: values['synthesis-flip'],
    granularity: choiceOption(values.granularity, '--granularity', RECONSTRUCTION_GRANULARITIES),
    dropQuantization: probabilityOption(values['drop-quantization'], '--drop-quantization'),
    firstLastBits: bitWidthOption(values['first-last-bits'], '--first-last-bits'),
    minutes: positiveNumber(values.minutes, '--minutes'),
    seeds: values.seeds.split(',').map((seed) => positiveInteger(seed, '--seeds') as number),
    workers: workersOption(values.workers) as 1 | 2,
    data: values.data,
  };
});

const backend = await useFastestBackend({ log: console.error });
const teacher = await loadLayersModelFromFile(
  await npmLayersModel(options.package, options.model, resolve(here, '../.cache')),
);
const [height, width] = (teacher.inputs[0] as SymbolicTensor).shape.slice(1, 3) as [number, number];

// Natural images in [0, 1] (the input range of nsfwjs's models), resized to the model's input.
const natural = parseCifar10(new Uint8Array(await readFile(join(options.data, 'test_batch.bin'))), {
  count: options.images,
  normalization: null,
});
const small = tf.tensor4d(natural.images, natural.shape);
// Logits (a final softmax taken off) of every image, for agreement and KL.
async function logitsOf(model: LayersModel): Promise<tf.Tensor> {
  const view = await logitsView(model);
  const parts: tf.Tensor[] = [];
  try {
    for (let start = 0; start < options.images; start += 16) {
      const size = Math.min(16, options.images - start);
      parts.push(
        tf.tidy(
          () =>
            view.logits.predict(tf.image.resizeBilinear(tf.slice(small, start, size), [height, width])) as tf.Tensor,
        ),
      );
    }
    return tf.concat(parts);
  } finally {
    tf.dispose(parts);
    view.dispose();
  }
}
const teacherLogits = await logitsOf(teacher);
const reference = tf.tidy(() => tf.argMax(teacherLogits, 1).dataSync() as Int32Array);
// A student that always answers the float model's most frequent class agrees this often:
// on images outside the model's domain one class can take most of them.
const counts = new Map<number, number>();
for (const c of reference) counts.set(c, (counts.get(c) ?? 0) + 1);
const majorityAgreement = Math.max(...counts.values()) / options.images;

const rows: string[] = [];
const percent = (value: number) => `${(100 * value).toFixed(1)}%`;
const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
for (const method of options.methods) {
  for (const { weightBits, activationBits } of options.bits) {
    const runs: { agreement: number; kl: number; seconds: number }[] = [];
    let weightBytes = 0;
    let ratio = 0;
    for (const seed of options.seeds) {
      const started = Date.now();
      const { model, report } = await quantizeDataFree(teacher, {
        weightBits,
        activationBits,
        method,
        calibrationImages: options.calibrationImages,
        synthesisSteps: options.steps,
        fidelityImages: options.fidelityImages,
        biasCorrection: options.biasCorrection,
        ...(options.inputRange ? { inputRange: options.inputRange } : {}),
        ...(options.bnsWeight !== undefined ? { synthesisBnsWeight: options.bnsWeight } : {}),
        ...(options.synthesisTv !== undefined ? { synthesisTvWeight: options.synthesisTv } : {}),
        ...(options.synthesisNoise !== undefined ? { synthesisStartingNoise: options.synthesisNoise } : {}),
        ...(options.synthesisJitter !== undefined ? { synthesisJitter: options.synthesisJitter } : {}),
        ...(options.synthesisFlip ? { synthesisFlip: true } : {}),
        reconstruction: {
          ...(options.granularity !== undefined ? { granularity: options.granularity } : {}),
          ...(options.dropQuantization !== undefined ? { dropQuantization: options.dropQuantization } : {}),
        },
        ...(options.minutes !== undefined ? { minutes: options.minutes } : {}),
        ...(options.firstLastBits !== undefined ? { quantization: { firstLastBits: options.firstLastBits } } : {}),
        seed,
        workers: options.workers,
        backend: 'current',
        log: console.error,
      });
      const seconds = (Date.now() - started) / 1000;
      const logits = await logitsOf(model);
      const { agreement, kl } = meanFidelity(logits, teacherLogits);
      logits.dispose();
      const out = await mkdtemp(join(tmpdir(), 'qimera-npm-model-'));
      const sizes = await exportQuantized(model, join(out, 'artifact'));
      await rm(out, { recursive: true, force: true });
      model.dispose();
      runs.push({ agreement, kl, seconds });
      weightBytes = sizes.weightBytes;
      ratio = sizes.ratio;
      console.log(
        JSON.stringify({
          package: options.package,
          model: options.model,
          input: [height, width],
          method,
          bits: `W${weightBits}A${activationBits}`,
          biasCorrection: method === 'minmax' ? null : options.biasCorrection,
          inputRange: options.inputRange ?? null,
          bnsWeight: options.bnsWeight ?? null,
          synthesisTv: options.synthesisTv ?? null,
          synthesisNoise: options.synthesisNoise ?? null,
          synthesisJitter: options.synthesisJitter ?? null,
          synthesisFlip: options.synthesisFlip,
          granularity: options.granularity ?? null,
          dropQuantization: options.dropQuantization ?? null,
          firstLastBits: options.firstLastBits ?? null,
          steps: options.steps,
          minutes: options.minutes ?? null,
          seed,
          workers: options.workers,
          agreement,
          // Mean KL divergence of the student's class distribution from the float model's, in nats.
          kl,
          majorityAgreement,
          images: options.images,
          seconds,
          weightBytes: sizes.weightBytes,
          floatWeightBytes: sizes.floatWeightBytes,
          memory: report.memory,
          // What learned rounding used: its images and the layers whose rounding it kept.
          reconstruction: report.start?.reconstruction
            ? {
                images: report.start.reconstructionImages,
                kept: report.start.reconstruction.layers.filter((l) => l.kept).length,
                layers: report.start.reconstruction.layers.length,
                iterations: report.start.reconstruction.layers.map((l) => l.iterations),
              }
            : null,
          backend,
        }),
      );
    }
    const agreements = runs.map((run) => run.agreement);
    rows.push(
      `| ${method} | W${weightBits}A${activationBits}${options.firstLastBits ? ` (ends ${options.firstLastBits}-bit)` : ''} | ` +
        `${agreements.map(percent).join(' / ')} | ${percent(mean(agreements))} | ${mean(runs.map((run) => run.kl)).toFixed(3)} | ` +
        `${mean(runs.map((run) => run.seconds)).toFixed(0)} s | ${(weightBytes / 2 ** 20).toFixed(2)} MiB (${percent(ratio)} of float) |`,
    );
  }
}
console.log(
  `\n${options.package} ${options.model} (${height}x${width}), agreement with the float model on ${options.images} CIFAR-10 test images upscaled ` +
    `(always answering its most frequent class: ${(100 * majorityAgreement).toFixed(1)}%)`,
);
console.log(
  `| method | bits | top-1 agreement, seeds ${options.seeds.join(' / ')} | mean | KL (nats) | time per run | weights |\n| --- | --- | --- | --- | --- | --- | --- |`,
);
for (const row of rows) console.log(row);
tf.dispose([small, teacherLogits]);
teacher.dispose();
