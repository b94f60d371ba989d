// What the generator learns: trains Qimera's generator against the ResNet-20 teacher for
// a budget, then draws a PNG grid: real test images (top), generated images of each
// class (plain), and superposed ones (classes c and c+1 mixed half and half).
//   tsx src/grid.ts --iterations 300 --workers 2 --out docs/img/generated.png
// The backend this script trains on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  CIFAR10_CLASSES,
  CIFAR10_NORMALIZATION,
  generateImages,
  type LabelBatch,
  mapSlots,
  parseCifar10,
  quantizeDataFree,
  superposedLatent,
  useFastestBackend,
} from 'qimera';
import {
  choiceOption,
  loadLayersModelFromFile,
  nonNegativeInteger,
  positiveInteger,
  progressBar,
  readScriptOptions,
  scriptArguments,
  workersOption,
} from 'qimera/node';
import { Raster } from './raster.js';

const shared = process.env.QIMERA_SHARED ?? resolve(fileURLToPath(new URL('../../../..', import.meta.url)), 'shared');
const { values, iterations, batchSize, seed, workers, withMapping } = readScriptOptions('grid', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      iterations: { type: 'string', default: '300' },
      batch: { type: 'string', default: '64' },
      workers: { type: 'string', default: '1' },
      mapping: { type: 'string', default: 'on' },
      seed: { type: 'string', default: '1' },
      teacher: { type: 'string', default: join(shared, 'models/resnet20-cifar10/model.json') },
      data: { type: 'string', default: join(shared, 'datasets/cifar-10-batches-bin') },
      out: { type: 'string', default: 'generated.png' },
    },
  });
  return {
    values,
    workers: workersOption(values.workers) as 1 | 2,
    withMapping: choiceOption(values.mapping, '--mapping', ['on', 'off']) === 'on',
    iterations: positiveInteger(values.iterations, '--iterations') as number,
    batchSize: positiveInteger(values.batch, '--batch') as number,
    seed: nonNegativeInteger(values.seed, '--seed') as number,
  };
});

await useFastestBackend({ log: console.error });
const teacher = await loadLayersModelFromFile(values.teacher);
// Only the generator matters here: the student just calibrates the whole run.
const { model: student, generator: trained } = await quantizeDataFree(teacher, {
  weightBits: 4,
  activationBits: 4,
  backend: 'current',
  mapping: withMapping,
  iterations,
  iterationsPerEpoch: iterations,
  warmupEpochs: 1,
  batchSize,
  workers,
  seed,
  keepGenerator: true,
  onProgress: progressBar('generator'),
});
student.dispose();
if (!trained) throw new Error('grid: quantizeDataFree returned no generator');
const { generator, embedding, mapping } = trained;

const classes = CIFAR10_CLASSES.length;
const perClass = 2;
/** A label batch: `perClass` samples of each class, or of each pair (c, c+1) at λ = 0.5. */
function labels(superposed: boolean): LabelBatch {
  const batchSize = classes * perClass;
  const slots = superposed ? 2 : 1;
  const ids: number[] = [];
  const targets = new Float32Array(batchSize * classes);
  for (let i = 0; i < batchSize; i++) {
    const c = i % classes;
    const pair = superposed ? [c, (c + 1) % classes] : [c];
    ids.push(...pair);
    for (const k of pair) targets[i * classes + k] = (targets[i * classes + k] as number) + 1 / slots;
  }
  return {
    batchSize,
    numClasses: classes,
    superposed,
    slots,
    classes: Int32Array.from(ids),
    coefficients: new Float32Array(batchSize * slots).fill(1 / slots),
    targets,
  };
}
const generated = [false, true].map((superposed, k) =>
  tf.tidy(() => {
    const latent = superposedLatent(labels(superposed), embedding, {
      noiseSeed: 1000 + k,
      ...(mapping ? { mapSlots: (slots) => mapSlots(mapping, slots) } : {}),
    });
    return generateImages(generator, latent).dataSync() as Float32Array;
  }),
);

// The first test image of each class.
const test = parseCifar10(new Uint8Array(await readFile(join(values.data, 'test_batch.bin'))), { count: 200 });
const pixels = 32 * 32 * 3;
const real = new Float32Array(classes * pixels);
for (let c = 0; c < classes; c++) {
  const k = test.labels.indexOf(c);
  real.set(test.images.subarray(k * pixels, (k + 1) * pixels), c * pixels);
}

const [scale, gap, left, top] = [3, 6, 250, 40];
const cell = 32 * scale + gap;
const rows: [string, Float32Array, number][] = [
  ['real (test set)', real, 0],
  ['generated', generated[0] as Float32Array, 0],
  ['', generated[0] as Float32Array, 1],
  ['superposed c + c+1', generated[1] as Float32Array, 0],
  ['', generated[1] as Float32Array, 1],
];
const raster = new Raster(left + classes * cell, top + rows.length * cell + 10);
CIFAR10_CLASSES.forEach((name, c) => {
  const label = name.slice(0, 8);
  raster.text(left + c * cell + (32 * scale - Raster.textWidth(label)) / 2, 14, label, [30, 30, 30]);
});
rows.forEach(([label, images, sample], r) => {
  raster.text(10, top + r * cell + 40, label, [30, 30, 30]);
  for (let c = 0; c < classes; c++) {
    const index = sample * classes + c; // sample-major within the batch
    drawImage(images.subarray(index * pixels, (index + 1) * pixels), left + c * cell, top + r * cell);
  }
});
await writeFile(values.out, raster.toPng());
console.error(`grid: wrote ${values.out} after ${iterations} generator iterations`);
for (const model of [generator, mapping]) model?.dispose();
embedding.dispose();

/** One normalised NHWC image, back to pixels, scaled up. */
function drawImage(image: Float32Array, x: number, y: number): void {
  const { mean, std } = CIFAR10_NORMALIZATION;
  for (let py = 0; py < 32; py++) {
    for (let px = 0; px < 32; px++) {
      const rgb = [0, 1, 2].map((ch) => {
        const value = (image[(py * 32 + px) * 3 + ch] as number) * (std[ch] as number) + (mean[ch] as number);
        return Math.round(255 * Math.min(1, Math.max(0, value)));
      }) as [number, number, number];
      raster.fillRect(x + px * scale, y + py * scale, scale, scale, rgb);
    }
  }
}
