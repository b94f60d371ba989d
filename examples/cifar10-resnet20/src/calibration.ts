// The no-training start, piece by piece: each way of choosing weight and activation
// ranges measured alone and together on the ResNet-20 teacher, at several bit widths.
// One JSON line per configuration, then a Markdown table.
//   pnpm --filter @qimera/example-cifar10 calibration -- --bits 8/8,5/5,4/4,3/3
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { dispose, randomNormal, type Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  calibrateActivationRanges,
  correctBias,
  type ObserverKind,
  parseCifar10,
  quantizeModel,
  SeededRandom,
  sampleLabels,
  splitIntoBatches,
  synthesizeImages,
  top1Accuracy,
  useFastestBackend,
  type WeightRangeMethod,
} from 'qimera';
import {
  type BitsOption,
  bitsOption,
  loadLayersModelFromFile,
  positiveInteger,
  readScriptOptions,
  scriptArguments,
} from 'qimera/node';

const shared = process.env.QIMERA_SHARED ?? resolve(fileURLToPath(new URL('../../../..', import.meta.url)), 'shared');
const options = readScriptOptions('calibration', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      bits: { type: 'string', default: '8/8,5/5,4/4,3/3' },
      images: { type: 'string', default: '256' },
      steps: { type: 'string', default: '200' },
      'eval-images': { type: 'string', default: '10000' },
      seed: { type: 'string', default: '1' },
      teacher: { type: 'string', default: join(shared, 'models/resnet20-cifar10/model.json') },
      data: { type: 'string', default: join(shared, 'datasets/cifar-10-batches-bin') },
    },
  });
  return {
    bits: values.bits.split(',').map((b) => bitsOption(b) as BitsOption),
    images: positiveInteger(values.images, '--images') as number,
    steps: positiveInteger(values.steps, '--steps') as number,
    evalImages: positiveInteger(values['eval-images'], '--eval-images') as number,
    seed: positiveInteger(values.seed, '--seed') as number,
    teacher: values.teacher,
    data: values.data,
  };
});

await useFastestBackend({ log: console.error });
const teacher = await loadLayersModelFromFile(options.teacher);
const bytes = await readFile(join(options.data, 'test_batch.bin'));
const test = parseCifar10(new Uint8Array(bytes), { count: options.evalImages });
const fp = top1Accuracy((x) => teacher.predict(x) as Tensor, test);
console.error(`FP teacher: ${pct(fp)} on ${test.count} test images`);

const [height, width, channels] = (teacher.inputs[0]?.shape ?? []).slice(1) as number[];
const classes = teacher.outputs[0]?.shape[1] as number;
let started = Date.now();
const synthetic = await synthesizeImages(teacher, {
  targets: sampleLabels(new SeededRandom(options.seed), {
    batchSize: options.images,
    numClasses: classes,
    superposeProbability: 0,
    slots: 1,
  }).targets,
  steps: options.steps,
  seed: options.seed,
});
const synthesisSeconds = (Date.now() - started) / 1000;
console.error(`synthesized ${options.images} images in ${synthesisSeconds.toFixed(1)} s`);
// The naive baseline's images: N(0, 1) noise, 4 batches of 200 (method 'minmax').
const noise = Array.from({ length: 4 }, (_, i) =>
  randomNormal([200, height as number, width as number, channels as number], 0, 1, 'float32', options.seed + i),
);
const syntheticBatches = splitIntoBatches(synthetic, 64);

interface Config {
  name: string;
  weights: WeightRangeMethod;
  images: 'noise' | 'synthetic';
  observer: ObserverKind;
  biasCorrection: boolean;
}
const CONFIGS: Config[] = [
  { name: 'minmax (baseline)', weights: 'minmax', images: 'noise', observer: 'ema', biasCorrection: false },
  { name: 'weights mse', weights: 'mse', images: 'noise', observer: 'ema', biasCorrection: false },
  { name: 'synthetic images', weights: 'minmax', images: 'synthetic', observer: 'ema', biasCorrection: false },
  { name: 'activations mse (noise)', weights: 'minmax', images: 'noise', observer: 'mse', biasCorrection: false },
  {
    name: 'activations mse (synthetic)',
    weights: 'minmax',
    images: 'synthetic',
    observer: 'mse',
    biasCorrection: false,
  },
  { name: 'bias correction', weights: 'minmax', images: 'synthetic', observer: 'ema', biasCorrection: true },
  { name: 'weights + activations mse', weights: 'mse', images: 'synthetic', observer: 'mse', biasCorrection: false },
  { name: 'all', weights: 'mse', images: 'synthetic', observer: 'mse', biasCorrection: true },
];

const rows: Record<string, Record<string, number>> = {};
for (const { weightBits, activationBits } of options.bits) {
  const bits = `W${weightBits}A${activationBits}`;
  for (const config of CONFIGS) {
    started = Date.now();
    const student: LayersModel = await quantizeModel(teacher, {
      weightBits,
      activationBits,
      weightRange: config.weights,
      activationObserver: config.observer,
    });
    const batches = config.images === 'noise' ? noise : syntheticBatches;
    if (config.biasCorrection) correctBias(student, teacher, synthetic);
    await calibrateActivationRanges(student, batches);
    const seconds = (Date.now() - started) / 1000;
    const accuracy = top1Accuracy((x) => student.predict(x) as Tensor, test);
    student.dispose();
    const row = rows[config.name] ?? {};
    row[bits] = accuracy;
    rows[config.name] = row;
    console.log(JSON.stringify({ bits, ...config, accuracy, fp, seconds, synthesisSeconds, seed: options.seed }));
  }
}
dispose([synthetic, ...noise, ...syntheticBatches]);

const columns = options.bits.map(({ weightBits, activationBits }) => `W${weightBits}A${activationBits}`);
console.log(`\n| configuration | ${columns.join(' | ')} |\n|---|${columns.map(() => '---').join('|')}|`);
console.log(`| FP | ${columns.map(() => pct(fp)).join(' | ')} |`);
for (const [name, row] of Object.entries(rows)) {
  console.log(`| ${name} | ${columns.map((c) => pct(row[c] as number)).join(' | ')} |`);
}

function pct(value: number): string {
  return `${(100 * value).toFixed(2)}%`;
}
