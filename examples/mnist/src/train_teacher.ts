// Trains the demo teacher on the training split of the `mnist` package digits and
// writes it to fixtures/teacher. The demo only loads that fixture; run this to
// reproduce it: pnpm --filter @qimera/example-mnist train-teacher [-- --epochs N]
import '@tensorflow/tfjs-backend-cpu';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { saveLayersModelToDir } from 'qimera/node';
import { loadDigits } from './digits.js';
import { accuracy } from './evaluate.js';
import { buildTeacher } from './teacher.js';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '4' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string', default: fileURLToPath(new URL('../fixtures/teacher', import.meta.url)) },
  },
});
const epochs = Number(values.epochs);
const seed = Number(values.seed);

await tf.setBackend('cpu');
const train = loadDigits('train');
const heldout = loadDigits('heldout');
const teacher = buildTeacher(seed);
teacher.compile({ optimizer: tf.train.adam(3e-3), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
const started = Date.now();
await teacher.fit(train.images, tf.tensor1d(train.labels, 'float32'), {
  epochs,
  batchSize: 64,
  shuffle: true,
  callbacks: {
    onEpochEnd: (epoch, logs) => {
      const minutes = ((Date.now() - started) / 60_000).toFixed(1);
      console.log(`epoch ${epoch + 1}/${epochs}: loss ${logs?.loss?.toFixed(4)}, train acc ${logs?.acc?.toFixed(4)} (${minutes} min)`);
    },
  },
});
console.log(`held-out accuracy ${(100 * accuracy(teacher, heldout)).toFixed(2)}% on ${heldout.labels.length} digits`);
const saved = await saveLayersModelToDir(teacher, values.out);
console.log(`saved ${saved.modelJsonPath} (${saved.weightBytes} weight bytes)`);
