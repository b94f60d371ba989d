// Speed of the pieces a data-free run repeats, per backend and teacher: ResNet-20 and a
// small MobileNetV2-style network at 32x32, MobileNetV2 and ResNet-18 at 224x224 (all
// freshly initialised): forward, one training step, one synthesis step (pixel
// optimisation against the teacher's BN statistics, as the calibrated start and
// 'adaround' synthesize; on one thread, and two batches at once on two), and one full
// Qimera iteration (generator + teacher + W4A4 student) on one thread and on two, in the
// micro-batches quantizeDataFree plans for the wasm heap. Prints one JSON line per
// measurement (images/s, ms per batch, the wasm heap's size after it: the most memory
// the process has needed so far, as the heap never shrinks; run one model per process
// for its own peak), then a table.
// Run from the repo root: pnpm bench [-- --models resnet20,mobilenetv2-224 --batch 64 --large-batch 8 --repeats 3 --backends cpu,wasm]
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { SynthesisPool, softCrossEntropy, synthesizeImages, useFastestBackend } from 'qimera';
import { choiceOption, positiveInteger, readScriptOptions, scriptArguments } from 'qimera/node';
import { qimeraIterationTimes } from './qimera_iteration.js';
import { TEACHER_NAMES, TEACHERS, type TeacherName, teacherShape } from './teachers.js';
import { TwoThreadResNet } from './two_threads.js';

const { values, models, smallBatch, largeBatch, repeats } = readScriptOptions('bench', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      models: { type: 'string', default: TEACHER_NAMES.join(',') },
      batch: { type: 'string', default: '64' },
      'large-batch': { type: 'string', default: '8' },
      repeats: { type: 'string', default: '3' },
      backends: { type: 'string', default: 'cpu,wasm' },
    },
  });
  return {
    values,
    models: values.models.split(',').map((m) => choiceOption(m, '--models', TEACHER_NAMES) as TeacherName),
    smallBatch: positiveInteger(values.batch, '--batch') as number,
    largeBatch: positiveInteger(values['large-batch'], '--large-batch') as number,
    repeats: positiveInteger(values.repeats, '--repeats') as number,
  };
});

interface Measurement {
  model: TeacherName;
  bench: 'forward' | 'train-step' | 'synthesis-step' | 'qimera-iteration';
  backend: string;
  workers: number;
  batch: number;
  imgPerSec: number | null;
  msPerBatch: number | null;
  /** The wasm heap's size after this measurement, in MiB (see {@link heapMiB}). */
  heapMiB?: number | null;
  /** Images per pass when the batch is accumulated over several (qimera-iteration). */
  microBatch?: number | null;
  skipped?: string;
}
const results: Measurement[] = [];

function report(m: Measurement): void {
  results.push(m);
  console.log(JSON.stringify(m));
}

/** Mean wall time of `repeats` calls after one warm-up call. */
async function timeIt(run: () => Promise<unknown> | unknown, times = repeats): Promise<number> {
  await run();
  const start = performance.now();
  for (let i = 0; i < times; i++) await run();
  return (performance.now() - start) / times;
}

/**
 * The wasm heap's size in MiB: the most memory this process's tensors have needed so
 * far (a wasm heap never shrinks); null off wasm.
 */
function heapMiB(): number | null {
  const wasm = (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm;
  return wasm ? wasm.HEAPU8.buffer.byteLength / 2 ** 20 : null;
}

for (const backend of values.backends.split(',')) {
  await useFastestBackend({ prefer: backend, log: (m) => console.error(m) });
  for (const name of models) await benchTeacher(name, TEACHERS[name](), backend);
}

async function benchTeacher(name: TeacherName, net: LayersModel, backend: string): Promise<void> {
  const { image, classes } = teacherShape(net);
  const batch = Math.max(image[0], image[1]) >= 64 ? largeBatch : smallBatch;
  const measured = (bench: Measurement['bench'], workers: number, ms: number, microBatch?: number | null) =>
    report({
      model: name,
      bench,
      backend,
      workers,
      batch,
      imgPerSec: (batch / ms) * 1000,
      msPerBatch: ms,
      heapMiB: heapMiB(),
      ...(microBatch === undefined ? {} : { microBatch }),
    });
  const x = tf.randomNormal([batch, ...image], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32', 2), classes);
  const forward = () => tf.tidy(() => void (net.predict(x) as tf.Tensor).dataSync());
  measured('forward', 1, await timeIt(forward, backend === 'cpu' ? 1 : repeats));

  if (backend === 'cpu') {
    const reason =
      'tfjs-cpu Conv2DBackpropFilter is a per-element JavaScript loop: about 55 s per ResNet-20 step at batch 8';
    for (const bench of ['train-step', 'synthesis-step', 'qimera-iteration'] as const) {
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
    measured('train-step', 1, await timeIt(step));
    optimizer.dispose();

    // Pixel optimisation of one batch: `repeats` Adam steps after a one-step call (setup and warm-up).
    const targets = y.dataSync() as Float32Array;
    const synthesize = (steps: number) => async () =>
      (await synthesizeImages(net, { targets, batchSize: batch, steps, seed: 1 })).dispose();
    await synthesize(1)();
    const started = performance.now();
    await synthesize(repeats)();
    measured('synthesis-step', 1, (performance.now() - started) / repeats);
    // Two batches at once on a two-thread SynthesisPool: per batch-step, as above.
    const pool = await SynthesisPool.start(net, 2);
    const twice = new Float32Array(2 * targets.length);
    twice.set(targets);
    twice.set(targets, targets.length);
    const poolSynthesize = (steps: number) => async () =>
      (await pool.synthesize({ targets: twice, batchSize: batch, steps, seed: 1 })).dispose();
    await poolSynthesize(1)();
    const poolStarted = performance.now();
    await poolSynthesize(repeats)();
    measured('synthesis-step', 2, (performance.now() - poolStarted) / (2 * repeats));
    await pool.dispose();

    // The same forward and training step, data-parallel over this thread and a worker
    // (a ResNet-20 worker: the split is measured on the benchmark teacher only).
    if (name === 'resnet20') {
      const twoThreads = await TwoThreadResNet.start(net, backend, 0.01);
      measured('forward', 2, await timeIt(() => twoThreads.forward(x)));
      measured('train-step', 2, await timeIt(() => twoThreads.trainStep(x, y)));
      await twoThreads.dispose();
    }

    // The generator quantizeDataFree builds for this teacher, W4A4 student, on one thread and split over two.
    for (const workers of [1, 2]) {
      const { times, microBatchSize } = await qimeraIterationTimes(net, { batch, workers, iterations: repeats + 2 });
      measured('qimera-iteration', workers, times.slice(2).reduce((a, b) => a + b, 0) / repeats, microBatchSize);
    }
  }
  tf.dispose([x, y]);
  net.dispose();
}

console.log(
  '\n| model | bench | backend | workers | batch (per pass) | ms per batch | img/s | heap MiB |\n|---|---|---|---|---|---|---|---|',
);
for (const m of results) {
  const speed =
    m.msPerBatch === null || m.imgPerSec === null
      ? `skipped: ${m.skipped} | |`
      : `${m.msPerBatch.toFixed(0)} | ${m.imgPerSec.toFixed(1)}`;
  console.log(
    `| ${m.model} | ${m.bench} | ${m.backend} | ${m.workers} | ${m.batch}${m.microBatch ? ` (${m.microBatch})` : ''} | ` +
      `${speed} | ${m.heapMiB?.toFixed(0) ?? ''} |`,
  );
}
