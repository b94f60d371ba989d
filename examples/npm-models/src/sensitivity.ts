// Which quantizers of a real model cost it the most: every kernel and every activation
// quantized alone (`quantizerSensitivity`) and compared with the float model, on
// synthesized images (no data) and on natural ones (CIFAR-10 test images upscaled), one
// JSON line each, then the most sensitive as a table:
//   pnpm --filter @qimera/example-npm-models sensitivity -- --bits 4/4 --input-range 0,1 --bns-weight 10
// The backend this script runs on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { SymbolicTensor } from '@tensorflow/tfjs-layers';
import {
  logitsView,
  parseCifar10,
  type QuantizerSensitivity,
  quantizerSensitivity,
  synthesizeImages,
  useFastestBackend,
} from 'qimera';
import {
  bitsOption,
  loadLayersModelFromFile,
  positiveInteger,
  positiveNumber,
  rangeOption,
  readScriptOptions,
  scriptArguments,
} from 'qimera/node';
import { npmLayersModel } from './npm_model.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const shared = process.env.QIMERA_SHARED ?? resolve(here, '../../../../shared');
const options = readScriptOptions('sensitivity', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      package: { type: 'string', default: 'nsfwjs@4.4.0' },
      model: { type: 'string', default: 'dist/models/mobilenet_v2' },
      bits: { type: 'string', default: '4/4' },
      images: { type: 'string', default: '16' },
      steps: { type: 'string', default: '10' },
      'input-range': { type: 'string' },
      'bns-weight': { type: 'string' },
      top: { type: 'string', default: '10' },
      seed: { type: 'string', default: '1' },
      data: { type: 'string', default: join(shared, 'datasets/cifar-10-batches-bin') },
    },
  });
  return {
    package: values.package,
    model: values.model,
    bits: bitsOption(values.bits, { max: 8 }) as { weightBits: number; activationBits: number },
    images: positiveInteger(values.images, '--images') as number,
    steps: positiveInteger(values.steps, '--steps') as number,
    inputRange: rangeOption(values['input-range'], '--input-range'),
    bnsWeight: positiveNumber(values['bns-weight'], '--bns-weight'),
    top: positiveInteger(values.top, '--top') as number,
    seed: positiveInteger(values.seed, '--seed') as number,
    data: values.data,
  };
});

await useFastestBackend({ log: console.error });
const model = await loadLayersModelFromFile(
  await npmLayersModel(options.package, options.model, resolve(here, '../.cache')),
);
// Sensitivity reads logits: a final softmax is taken off.
const view = await logitsView(model);
const teacher = view.logits;
const [height, width] = (teacher.inputs[0] as SymbolicTensor).shape.slice(1, 3) as [number, number];
const classes = teacher.outputs[0]?.shape[1] as number;
const targets = new Float32Array(options.images * classes);
for (let i = 0; i < options.images; i++) targets[i * classes + (i % classes)] = 1;
const synthesized = await synthesizeImages(teacher, {
  targets,
  steps: options.steps,
  batchSize: 8,
  seed: options.seed,
  ...(options.inputRange ? { inputRange: options.inputRange } : {}),
  ...(options.bnsWeight !== undefined ? { bnsWeight: options.bnsWeight } : {}),
});
const cifar = parseCifar10(new Uint8Array(await readFile(join(options.data, 'test_batch.bin'))), {
  count: options.images,
  normalization: null,
});
const natural = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(cifar.images, cifar.shape), [height, width]));

const config = { ...options.bits, weightRange: 'mse' as const, activationObserver: 'mse' as const };
const measure = (images: tf.Tensor, source: string) =>
  quantizerSensitivity(teacher, config, images, {
    batchSize: 8,
    onMeasured: (entry) => console.log(JSON.stringify({ source, ...entry })),
  });
const started = Date.now();
const onSynthesized = await measure(synthesized, 'synthesized');
const onNatural = await measure(natural, 'natural');
const seconds = (Date.now() - started) / 1000;

const key = (e: QuantizerSensitivity) => `${e.layer} ${e.kind}`;
const naturalKl = new Map(onNatural.map((e) => [key(e), e.kl]));
const ranked = [...onSynthesized].sort((a, b) => b.kl - a.kl).slice(0, options.top);
console.log(
  `\n${options.package} ${options.model}: the ${options.top} quantizers with the highest KL alone at ` +
    `W${options.bits.weightBits}A${options.bits.activationBits} (${options.images} synthesized / natural images, ${seconds.toFixed(0)} s)`,
);
console.log('| layer | quantizer | KL, synthesized | KL, natural |\n| --- | --- | --- | --- |');
for (const e of ranked) {
  console.log(`| ${e.layer} | ${e.kind} | ${e.kl.toFixed(3)} | ${(naturalKl.get(key(e)) ?? Number.NaN).toFixed(3)} |`);
}
tf.dispose([synthesized, natural]);
view.dispose();
model.dispose();
