// Speed of the pieces a Qimera run repeats, per backend and teacher (ResNet-20 and a
// small MobileNetV2-style CIFAR network): forward, one training step, and one full
// Qimera iteration (generator + teacher + W4A4 student). Prints one JSON line per
// measurement, then a table.
// Run from the repo root: pnpm bench [-- --batch 64 --repeats 3 --backends cpu,wasm]
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { softCrossEntropy, useFastestBackend } from 'qimera';
import { positiveInteger, readScriptOptions, scriptArguments } from 'qimera/node';
import { qimeraIterationTimes } from './qimera_iteration.js';
import { TEACHERS, type TeacherName } from './teachers.js';
import { TwoThreadResNet } from './two_threads.js';

const { values, batch, repeats } = readScriptOptions('bench', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      batch: { type: 'string', default: '64' },
      repeats: { type: 'string', default: '3' },
      backends: { type: 'string', default: 'cpu,wasm' },
    },
  });
  return {
    values,
    batch: positiveInteger(values.batch, '--batch') as number,
    repeats: positiveInteger(values.repeats, '--repeats') as number,
  };
});

interface Measurement {
  model: TeacherName;
  bench: 'forward' | 'train-step' | 'qimera-iteration';
  backend: string;
  workers: number;
  batch: number;
  imgPerSec: number | null;
  msPerBatch: number | null;
  skipped?: string;
}
const results: Measurement[] = [];

function report(m: Measurement): void {
  results.push(m);
  console.log(JSON.stringify(m));
}

/** Mean wall time of `repeats` calls after one warm-up call. */
async function timeIt(run: () => Promise<void> | void, times = repeats): Promise<number> {
  await run();
  const start = performance.now();
  for (let i = 0; i < times; i++) await run();
  return (performance.now() - start) / times;
}

function measured(model: TeacherName, bench: Measurement['bench'], backend: string, workers: number, ms: number): void {
  report({ model, bench, backend, workers, batch, imgPerSec: (batch / ms) * 1000, msPerBatch: ms });
}

for (const backend of values.backends.split(',')) {
  await useFastestBackend({ prefer: backend, log: (m) => console.error(m) });
  for (const [name, build] of Object.entries(TEACHERS) as [TeacherName, () => LayersModel][]) {
    await benchTeacher(name, build(), backend);
  }
}

async function benchTeacher(name: TeacherName, net: LayersModel, backend: string): Promise<void> {
  const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10);
  measured(
    name,
    'forward',
    backend,
    1,
    await timeIt(() => tf.tidy(() => void (net.predict(x) as tf.Tensor).dataSync()), backend === 'cpu' ? 1 : repeats),
  );

  if (backend === 'cpu') {
    const reason =
      'tfjs-cpu Conv2DBackpropFilter is a per-element JavaScript loop: about 55 s per ResNet-20 step at batch 8';
    for (const bench of ['train-step', 'qimera-iteration'] as const) {
      report({ model: name, bench, backend, workers: 1, batch, imgPerSec: null, msPerBatch: null, skipped: reason });
    }
  } else {
    const optimizer = tf.train.sgd(0.01);
    const vars = net.trainableWeights.map((w) => w.read() as tf.Variable);
    const step = () =>
      tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => softCrossEntropy(net.apply(x, { training: true }) as tf.Tensor, y),
          vars,
        );
        optimizer.applyGradients(grads);
        value.dataSync();
      });
    measured(name, 'train-step', backend, 1, await timeIt(step));
    optimizer.dispose();

    // The same forward and training step, data-parallel over this thread and a worker
    // (a ResNet-20 worker: the split is measured on the benchmark teacher only).
    if (name === 'resnet20') {
      const twoThreads = await TwoThreadResNet.start(net, backend, 0.01);
      measured(name, 'forward', backend, 2, await timeIt(() => twoThreads.forward(x)));
      measured(name, 'train-step', backend, 2, await timeIt(() => twoThreads.trainStep(x, y)));
      await twoThreads.dispose();
    }

    // The official CIFAR generator (width 128, DM to 100) against the teacher, W4A4 student,
    // on one thread and split over two.
    for (const workers of [1, 2]) {
      const times = await qimeraIterationTimes(net, { batch, workers, iterations: repeats + 2 });
      const ms = times.slice(2).reduce((a, b) => a + b, 0) / repeats;
      measured(name, 'qimera-iteration', backend, workers, ms);
    }
  }
  tf.dispose([x, y]);
  net.dispose();
}

console.log('\n| model | bench | backend | workers | batch | img/s |\n|---|---|---|---|---|---|');
for (const m of results) {
  console.log(
    `| ${m.model} | ${m.bench} | ${m.backend} | ${m.workers} | ${m.batch} | ${m.imgPerSec === null ? `skipped: ${m.skipped}` : m.imgPerSec.toFixed(1)} |`,
  );
}
