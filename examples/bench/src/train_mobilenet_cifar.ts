// Trains the MobileNet-style CIFAR-10 teacher (mobilenet_v2.ts) on ../shared's
// data_batch_1.bin (10,000 images; random crops and flips), sets its BatchNorm statistics
// to those of the training images, reports its test accuracy and writes it to
// fixtures/mobilenet-cifar, where `pnpm bench:cifar10 -- --teacher` takes it. The
// fixture is committed; this reproduces it:
//   pnpm --filter @qimera/bench train-mobilenet-cifar [-- --epochs N --seed S]
// The backend this script trains on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import {
  type ImageBatch,
  parseCifar10,
  recomputeBatchNormStatistics,
  registerWasmTrainingKernels,
  SeededRandom,
  top1Accuracy,
} from 'qimera';
import { positiveInteger, readScriptOptions, saveLayersModelToDir, scriptArguments } from 'qimera/node';
import { buildMobileNetCifar } from './mobilenet_v2.js';

const shared = process.env.QIMERA_SHARED ?? resolve(fileURLToPath(new URL('../../../..', import.meta.url)), 'shared');
const options = readScriptOptions('train-mobilenet-cifar', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      epochs: { type: 'string', default: '12' },
      batch: { type: 'string', default: '64' },
      seed: { type: 'string', default: '1' },
      data: { type: 'string', default: join(shared, 'datasets/cifar-10-batches-bin') },
      out: { type: 'string', default: fileURLToPath(new URL('../fixtures/mobilenet-cifar', import.meta.url)) },
    },
  });
  return {
    epochs: positiveInteger(values.epochs, '--epochs') as number,
    batch: positiveInteger(values.batch, '--batch') as number,
    seed: positiveInteger(values.seed, '--seed') as number,
    data: values.data,
    out: values.out,
  };
});

// Adam's rate at the start, decayed to 0 over the run along a cosine.
const LEARNING_RATE = 3e-3;
// Pixels of zero padding (the normalised mean) around the images before a random 32x32 crop.
const CROP_PADDING = 4;

registerWasmTrainingKernels();
await tf.setBackend('wasm');
const load = async (file: string) => parseCifar10(new Uint8Array(await readFile(join(options.data, file))));
const train = await load('data_batch_1.bin');
const test = await load('test_batch.bin');
const random = new SeededRandom(options.seed);

const net = buildMobileNetCifar(options.seed);
const optimizer = tf.train.adam(LEARNING_RATE);
net.compile({
  optimizer,
  loss: (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits),
});
const steps = Math.ceil(train.count / options.batch);
const started = Date.now();
for (let epoch = 0; epoch < options.epochs; epoch++) {
  const order = shuffled(train.count, random);
  let lossSum = 0;
  for (let step = 0; step < steps; step++) {
    const progress = (epoch * steps + step) / (options.epochs * steps);
    // tfjs's Adam reads its rate at each step.
    (optimizer as unknown as { learningRate: number }).learningRate =
      (LEARNING_RATE * (1 + Math.cos(Math.PI * progress))) / 2;
    const picked = order.slice(step * options.batch, (step + 1) * options.batch);
    const [x, y] = augmentedBatch(train, picked, random);
    lossSum += (await net.trainOnBatch(x, y)) as number;
    tf.dispose([x, y]);
  }
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  console.log(`epoch ${epoch + 1}/${options.epochs}: loss ${(lossSum / steps).toFixed(4)} (${minutes} min)`);
}
const trailing = top1Accuracy((x) => net.predict(x) as tf.Tensor, test);
const images = tf.tensor4d(train.images, train.shape);
recomputeBatchNormStatistics(net, images);
images.dispose();
const accuracy = top1Accuracy((x) => net.predict(x) as tf.Tensor, test);
console.log(
  `test accuracy ${(100 * accuracy).toFixed(2)}% on ${test.count} images ` +
    `(${(100 * trailing).toFixed(2)}% with the moving averages training left)`,
);
const saved = await saveLayersModelToDir(net, options.out, { overwrite: true });
console.log(`saved ${saved.modelJsonPath} (${saved.weightBytes} weight bytes)`);

/** 0..n-1 in a seeded random order (Fisher-Yates). */
function shuffled(n: number, rng: SeededRandom): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j] as number, order[i] as number];
  }
  return order;
}

/** The picked images, each shifted by up to {@link CROP_PADDING} pixels and mirrored half the time, with one-hot labels. */
function augmentedBatch(data: ImageBatch, picked: number[], rng: SeededRandom): [tf.Tensor4D, tf.Tensor2D] {
  const [, size, , channels] = data.shape;
  const pixels = size * size * channels;
  const out = new Float32Array(picked.length * pixels);
  picked.forEach((index, n) => {
    const dy = rng.int(2 * CROP_PADDING + 1) - CROP_PADDING;
    const dx = rng.int(2 * CROP_PADDING + 1) - CROP_PADDING;
    const mirror = rng.uniform() < 0.5;
    for (let row = 0; row < size; row++) {
      const from = row + dy;
      if (from < 0 || from >= size) continue;
      for (let col = 0; col < size; col++) {
        const source = (mirror ? size - 1 - col : col) + dx;
        if (source < 0 || source >= size) continue;
        const target = n * pixels + (row * size + col) * channels;
        const origin = index * pixels + (from * size + source) * channels;
        for (let c = 0; c < channels; c++) out[target + c] = data.images[origin + c] as number;
      }
    }
  });
  const labels = tf.oneHot(
    tf.tensor1d(
      picked.map((i) => data.labels[i] as number),
      'int32',
    ),
    10,
  );
  return [tf.tensor4d(out, [picked.length, size, size, channels]), labels as tf.Tensor2D];
}
