// Trains the demo teacher on the training split of the `mnist` package digits, sets its
// BatchNorm statistics to those of the training digits, and writes it to fixtures/teacher. The demo only loads that fixture; run this to
// reproduce it: pnpm --filter @qimera/example-mnist train-teacher [-- --epochs N]
// The backend this script trains on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { registerWasmTrainingKernels } from '@qimera/wasm-training';
import * as tf from '@tensorflow/tfjs-core';
import { recomputeBatchNormStatistics } from 'qimera';
import { saveLayersModelToDir, scriptArguments } from 'qimera/node';
import { loadDigits } from './digits.js';
import { accuracy } from './evaluate.js';
import { buildTeacher } from './teacher.js';

const { values } = parseArgs({
  args: scriptArguments(),
  options: {
    epochs: { type: 'string', default: '4' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: fileURLToPath(new URL('../fixtures/teacher', import.meta.url)) },
  },
});
const epochs = Number(values.epochs);
const seed = Number(values.seed);

registerWasmTrainingKernels();
await tf.setBackend('wasm');
const train = loadDigits('train');
const heldout = loadDigits('heldout');
const teacher = buildTeacher(seed);
// The teacher outputs logits (as classifiers handed to Qimera usually do).
const logitLoss = (labels: tf.Tensor, logits: tf.Tensor) => tf.losses.softmaxCrossEntropy(labels, logits);
teacher.compile({ optimizer: tf.train.adam(3e-3), loss: logitLoss, metrics: ['categoricalAccuracy'] });
const started = Date.now();
await teacher.fit(train.images, tf.oneHot(tf.tensor1d(train.labels, 'int32'), 10), {
  epochs,
  batchSize: 64,
  shuffle: true,
  callbacks: {
    onEpochEnd: (epoch, logs) => {
      const minutes = ((Date.now() - started) / 60_000).toFixed(1);
      console.log(
        `epoch ${epoch + 1}/${epochs}: loss ${logs?.loss?.toFixed(4)}, train accuracy ${logs?.categoricalAccuracy?.toFixed(4)} (${minutes} min)`,
      );
    },
  },
});
const trailing = accuracy(teacher, heldout);
recomputeBatchNormStatistics(teacher, train.images);
console.log(
  `held-out accuracy ${(100 * accuracy(teacher, heldout)).toFixed(2)}% on ${heldout.labels.length} digits ` +
    `(${(100 * trailing).toFixed(2)}% with the moving averages training left)`,
);
const saved = await saveLayersModelToDir(teacher, values.out, { overwrite: true });
console.log(`saved ${saved.modelJsonPath} (${saved.weightBytes} weight bytes)`);
