// The paper's benchmark on one machine: quantize the ResNet-20 CIFAR-10 teacher without
// data, evaluate the student on the test set at checkpoints (not counted as training
// time) and at the end, and save it. One JSON line per checkpoint, then a summary line.
//   pnpm bench:cifar10 -- --method qimera --bits 4/4 --minutes 60
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Tensor } from '@tensorflow/tfjs-core';
import { type DataFreeMethod, parseCifar10, quantizeDataFree, top1Accuracy, useFastestBackend } from 'qimera';
import { loadLayersModelFromFile, saveLayersModelToDir } from 'qimera/node';

const shared = process.env.QIMERA_SHARED ?? resolve(fileURLToPath(new URL('../../../..', import.meta.url)), 'shared');
const { values } = parseArgs({
  options: {
    method: { type: 'string', default: 'qimera' },
    bits: { type: 'string', default: '4/4' },
    minutes: { type: 'string' },
    iterations: { type: 'string' },
    batch: { type: 'string', default: '200' },
    'eval-every': { type: 'string', default: '400' },
    'eval-images': { type: 'string', default: '10000' },
    mapping: { type: 'string', default: 'on' },
    'fold-bn': { type: 'boolean', default: false },
    'warmup-epochs': { type: 'string', default: '4' },
    'iterations-per-epoch': { type: 'string', default: '200' },
    'student-lr': { type: 'string', default: '1e-4' },
    seed: { type: 'string', default: '1' },
    backend: { type: 'string', default: 'auto' },
    workers: { type: 'string', default: '1' },
    teacher: { type: 'string', default: join(shared, 'models/resnet20-cifar10/model.json') },
    data: { type: 'string', default: join(shared, 'datasets/cifar-10-batches-bin') },
    out: { type: 'string', default: 'runs' },
  },
});

const fail = (message: string): never => {
  console.error(`bench:cifar10: ${message}`);
  process.exit(2);
};
const method = values.method as DataFreeMethod;
if (!['qimera', 'gdfq', 'minmax'].includes(method))
  fail(`--method must be qimera, gdfq or minmax, got '${values.method}'`);
const bitsMatch = /^(\d+)\/(\d+)$/.exec(values.bits);
if (!bitsMatch) fail(`--bits must look like W/A, e.g. 4/4, got '${values.bits}'`);
const [weightBits, activationBits] = [Number(bitsMatch?.[1]), Number(bitsMatch?.[2])];
if (values.workers !== '1' && values.workers !== '2') fail(`--workers must be 1 or 2, got '${values.workers}'`);
if (!['on', 'off'].includes(values.mapping)) fail(`--mapping must be on or off, got '${values.mapping}'`);
const minutes = values.minutes === undefined ? null : Number(values.minutes);
const iterations = values.iterations === undefined ? null : Number(values.iterations);
if (minutes === null && iterations === null && method !== 'minmax')
  fail('give a budget: --minutes N or --iterations N');

const backend = await useFastestBackend(
  values.backend === 'auto' ? { log: console.error } : { prefer: values.backend, log: console.error },
);
const teacher = await loadLayersModelFromFile(values.teacher).catch((e: Error) =>
  fail(`cannot load the teacher: ${e.message}`),
);
const testFile = join(values.data, 'test_batch.bin');
const bytes = await readFile(testFile).catch(() => fail(`CIFAR-10 test batch not found: ${testFile}`));
const test = parseCifar10(new Uint8Array(bytes), { count: Number(values['eval-images']) });
const fp = top1Accuracy((x) => teacher.predict(x) as Tensor, test);
console.error(`FP teacher: ${(100 * fp).toFixed(2)}% on ${test.count} test images`);

const controller = new AbortController();
const evalEvery = Number(values['eval-every']);
let evalMs = 0;
let best = 0;
const trainingSeconds = (elapsedMs: number) => (elapsedMs - evalMs) / 1000;
const { model: student, report } = await quantizeDataFree(teacher, {
  method,
  weightBits,
  activationBits,
  backend: 'current',
  mapping: values.mapping === 'on',
  quantization: { foldBatchNorm: values['fold-bn'] },
  batchSize: Number(values.batch),
  warmupEpochs: Number(values['warmup-epochs']),
  iterationsPerEpoch: Number(values['iterations-per-epoch']),
  studentLearningRate: Number(values['student-lr']),
  // A time budget runs the official schedule until the clock says stop.
  iterations: iterations ?? 80_000,
  seed: Number(values.seed),
  workers: Number(values.workers),
  signal: controller.signal,
  onProgress: (p, current) => {
    if (p.phase === 'distill' && p.iteration % evalEvery === 0) {
      const started = Date.now();
      const accuracy = top1Accuracy((x) => current.predict(x) as Tensor, test);
      evalMs += Date.now() - started;
      best = Math.max(best, accuracy);
      console.log(JSON.stringify({ iteration: p.iteration, seconds: trainingSeconds(p.elapsedMs), accuracy }));
    }
    if (minutes !== null && trainingSeconds(p.elapsedMs) >= minutes * 60) controller.abort();
  },
});
const accuracy = top1Accuracy((x) => student.predict(x) as Tensor, test);
best = Math.max(best, accuracy);
const folded = values['fold-bn'] ? '-foldbn' : '';
const outDir = join(values.out, `${method}-w${weightBits}a${activationBits}${folded}-seed${values.seed}`);
await saveLayersModelToDir(student, outDir);
console.log(
  JSON.stringify({
    method,
    bits: values.bits,
    mapping: method === 'qimera' ? values.mapping === 'on' : false,
    foldBatchNorm: values['fold-bn'],
    fp,
    accuracy,
    best,
    iterations: report.iterations,
    seconds: (report.wallTimeMs - evalMs) / 1000,
    backend,
    workers: Number(values.workers),
    batch: Number(values.batch),
    warmupEpochs: Number(values['warmup-epochs']),
    iterationsPerEpoch: Number(values['iterations-per-epoch']),
    studentLearningRate: Number(values['student-lr']),
    saved: outDir,
  }),
);
