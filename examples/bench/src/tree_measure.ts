// One side of `compare-trees`: the ResNet-20 training step and the Qimera iteration of
// `pnpm bench`, on one thread or two, timed `--repeats` times after warm-up; prints one
// JSON line of medians. Imports only what every checkout with the bench's
// qimera_iteration.ts also has (stats.ts came with it), as `compare-trees` runs a copy
// of this file inside another checkout.
//   tsx src/tree_measure.ts [--workers 1|2 --repeats 5]
import '@tensorflow/tfjs-backend-wasm';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { softCrossEntropy, useFastestBackend } from 'qimera';
import { qimeraIterationTimes } from './qimera_iteration.js';
import { buildResNet20 } from './resnets.js';
import { median } from './stats.js';
import { TwoThreadResNet } from './two_threads.js';

const { values } = parseArgs({
  args: process.argv.slice(2).filter((a) => a !== '--'),
  options: { workers: { type: 'string', default: '1' }, repeats: { type: 'string', default: '5' } },
});
const workers = Number(values.workers);
const repeats = Number(values.repeats);
const batch = 64;

await useFastestBackend({ prefer: 'wasm', log: () => {} });
const net = buildResNet20();
const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 1);
const y = tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10));
let step: () => Promise<void> | void;
let stop = async () => {};
if (workers === 2) {
  const twoThreads = await TwoThreadResNet.start(net, 'wasm', 0.01);
  step = () => twoThreads.trainStep(x, y);
  stop = () => twoThreads.dispose();
} else {
  const optimizer = tf.train.sgd(0.01);
  const variables = net.trainableWeights.map((w) => w.read() as tf.Variable);
  step = () =>
    tf.tidy(() => {
      const { value, grads } = tf.variableGrads(
        () => softCrossEntropy(net.apply(x, { training: true }) as tf.Tensor, y),
        variables,
      );
      optimizer.applyGradients(grads);
      value.dataSync();
    });
}
await step();
const stepMs: number[] = [];
for (let i = 0; i < repeats; i++) {
  const start = performance.now();
  await step();
  stepMs.push(performance.now() - start);
}
await stop();
const iterationMs = (await qimeraIterationTimes(net, { batch, workers, iterations: repeats + 2 })).times.slice(2);
console.log(
  JSON.stringify({
    workers,
    batch,
    trainStepImgPerSec: (batch / median(stepMs)) * 1000,
    qimeraIterationImgPerSec: (batch / median(iterationMs)) * 1000,
  }),
);
