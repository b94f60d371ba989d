// The paper's benchmark on one machine: quantize the ResNet-20 CIFAR-10 teacher without
// data, evaluate the student on the test set at checkpoints (not counted as training
// time) and at the end, and save it. One JSON line per checkpoint, then a summary line.
//   pnpm bench:cifar10 -- --method qimera --bits 4/4 --minutes 60
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  type DataFreeMethod,
  type DistillProgress,
  distill,
  type ImageSource,
  inspectClassifier,
  methodDefaults,
  parseCifar10,
  quantizeDataFree,
  quantizeModel,
  SCHEDULE_PRESETS,
  type SchedulePreset,
  SeededRandom,
  STUDENT_LR_SCHEDULES,
  type StudentLrSchedule,
  top1Accuracy,
  useFastestBackend,
} from 'qimera';
import { loadLayersModelFromFile, saveLayersModelToDir, scriptArguments } from 'qimera/node';

const shared = process.env.QIMERA_SHARED ?? resolve(fileURLToPath(new URL('../../../..', import.meta.url)), 'shared');
const { values } = parseArgs({
  args: scriptArguments(),
  options: {
    method: { type: 'string', default: 'qimera' },
    bits: { type: 'string', default: '4/4' },
    minutes: { type: 'string' },
    iterations: { type: 'string' },
    // Schedule: the preset's values unless given (see SchedulePreset).
    preset: { type: 'string', default: 'paper' },
    batch: { type: 'string' },
    'eval-every': { type: 'string', default: '400' },
    'eval-images': { type: 'string', default: '10000' },
    mapping: { type: 'string', default: 'on' },
    'fold-bn': { type: 'boolean', default: false },
    // 'real': distil on data_batch_1 images instead of generated ones (the upper reference).
    images: { type: 'string', default: 'generated' },
    'warmup-epochs': { type: 'string' },
    'iterations-per-epoch': { type: 'string' },
    'student-lr': { type: 'string' },
    'student-schedule': { type: 'string' },
    'superpose-after': { type: 'string' },
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
if (!['generated', 'real'].includes(values.images)) fail(`--images must be generated or real, got '${values.images}'`);
if (!SCHEDULE_PRESETS.includes(values.preset as SchedulePreset))
  fail(`--preset must be ${SCHEDULE_PRESETS.join(' or ')}, got '${values.preset}'`);
if (
  values['student-schedule'] !== undefined &&
  !STUDENT_LR_SCHEDULES.includes(values['student-schedule'] as StudentLrSchedule)
)
  fail(`--student-schedule must be ${STUDENT_LR_SCHEDULES.join(' or ')}, got '${values['student-schedule']}'`);
const realImages = values.images === 'real';
if (realImages && method === 'minmax') fail('--images real trains the student: use it with --method qimera');
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
const onProgress = (p: DistillProgress, current: LayersModel) => {
  if (p.phase === 'distill' && p.iteration % evalEvery === 0) {
    // Training time up to this checkpoint: read before this evaluation's time is added.
    const seconds = trainingSeconds(p.elapsedMs);
    const started = Date.now();
    const accuracy = top1Accuracy((x) => current.predict(x) as Tensor, test);
    evalMs += Date.now() - started;
    best = Math.max(best, accuracy);
    console.log(JSON.stringify({ iteration: p.iteration, seconds, accuracy }));
  }
  if (minutes !== null && trainingSeconds(p.elapsedMs) >= minutes * 60) controller.abort();
};
// The same student schedule either way: the preset's, with the options given on top; a
// time budget runs it until the clock says stop.
const shape = inspectClassifier(teacher, { needsGenerator: false });
const defaults = methodDefaults(shape.numClasses, Math.max(shape.height, shape.width), values.preset as SchedulePreset);
const number = (flag: keyof typeof values, fallback: number) =>
  values[flag] === undefined ? fallback : Number(values[flag]);
const schedule = {
  batchSize: number('batch', defaults.batchSize),
  warmupEpochs: number('warmup-epochs', defaults.warmupEpochs),
  iterationsPerEpoch: number('iterations-per-epoch', defaults.iterationsPerEpoch),
  studentLearningRate: number('student-lr', defaults.studentLearningRate),
  studentLrSchedule: (values['student-schedule'] ?? defaults.studentLrSchedule) as StudentLrSchedule,
  seed: Number(values.seed),
  workers: Number(values.workers),
};
const superposeAfter = number('superpose-after', defaults.superposeAfter);
const training = { ...schedule, iterations: iterations ?? 80_000, signal: controller.signal, onProgress };
const { student, report } = realImages
  ? await distillOnRealImages()
  : await quantizeDataFree(teacher, {
      ...training,
      method,
      weightBits,
      activationBits,
      backend: 'current',
      mapping: values.mapping === 'on',
      superposeAfter,
      quantization: { foldBatchNorm: values['fold-bn'] },
    }).then(({ model, report }) => ({ student: model, report }));

/** The upper reference: the same student distillation on data_batch_1 images. */
async function distillOnRealImages() {
  const started = Date.now();
  const trainFile = join(values.data, 'data_batch_1.bin');
  const bytes = await readFile(trainFile).catch(() => fail(`CIFAR-10 training batch not found: ${trainFile}`));
  const train = parseCifar10(new Uint8Array(bytes));
  const pixels = 32 * 32 * 3;
  const rng = new SeededRandom(Number(values.seed));
  const images: ImageSource = (_, n) => {
    const batch = { images: new Float32Array(n * pixels), targets: new Float32Array(n * 10) };
    for (let i = 0; i < n; i++) {
      const k = rng.int(train.count);
      batch.images.set(train.images.subarray(k * pixels, (k + 1) * pixels), i * pixels);
      batch.targets[i * 10 + (train.labels[k] as number)] = 1;
    }
    return batch;
  };
  const student = await quantizeModel(teacher, { weightBits, activationBits, foldBatchNorm: values['fold-bn'] });
  const result = await distill({ ...training, teacher, student, images });
  return { student, report: { iterations: result.iterations, wallTimeMs: Date.now() - started } };
}
const accuracy = top1Accuracy((x) => student.predict(x) as Tensor, test);
best = Math.max(best, accuracy);
const folded = values['fold-bn'] ? '-foldbn' : '';
const label = realImages ? 'real-images' : method;
const outDir = join(values.out, `${label}-w${weightBits}a${activationBits}${folded}-seed${values.seed}`);
await saveLayersModelToDir(student, outDir);
console.log(
  JSON.stringify({
    method: label,
    bits: values.bits,
    mapping: !realImages && method === 'qimera' && values.mapping === 'on',
    foldBatchNorm: values['fold-bn'],
    fp,
    accuracy,
    best,
    iterations: report.iterations,
    seconds: (report.wallTimeMs - evalMs) / 1000,
    backend,
    preset: values.preset,
    ...schedule,
    superposeAfter: realImages || method !== 'qimera' ? null : superposeAfter,
    saved: outDir,
  }),
);
