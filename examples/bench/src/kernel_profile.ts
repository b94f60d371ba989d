// Where the time of a training step, a synthesis step (pixel optimisation against the
// teacher, as the calibrated start and 'adaround' synthesize) or a full Qimera iteration
// goes, per wasm kernel, for any of `pnpm bench`'s teachers (--model). Every registered
// wasm kernel is wrapped to time its calls (wasm kernels run synchronously, so wall time
// is the kernel's): exclusive time leaves out the kernels it calls itself, which the
// @qimera/wasm-training kernels do (a filter gradient is a transpose, a convolution
// and another transpose); a kernel called inside another is listed under both names
// ('Conv2DBackpropFilter > Conv2D'). Prints one JSON line per kernel, then a table,
// per step.
//   pnpm --filter @qimera/bench kernel-profile [-- --bench train-step|synthesis-step|qimera-iteration --model resnet20|mobilenet-cifar|mobilenetv2-224|resnet18-224 --batch 64 --steps 3 --shapes]
// (--shapes: one row per kernel and input shapes)
import '@tensorflow/tfjs-backend-wasm';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { synthesizeImages, useFastestBackend } from 'qimera';
import { choiceOption, positiveInteger, readScriptOptions, scriptArguments } from 'qimera/node';
import { qimeraIterationTimes } from './qimera_iteration.js';
import { ResNetHalf } from './resnet_half.js';
import { TEACHER_NAMES, TEACHERS, type TeacherName, teacherShape } from './teachers.js';

const { bench, teacher, batch, steps, shapes } = readScriptOptions('kernel-profile', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      bench: { type: 'string', default: 'train-step' },
      model: { type: 'string', default: 'resnet20' },
      batch: { type: 'string', default: '64' },
      steps: { type: 'string', default: '3' },
      shapes: { type: 'boolean', default: false },
    },
  });
  return {
    bench: choiceOption(values.bench, '--bench', [
      'train-step',
      'synthesis-step',
      'qimera-iteration',
    ] as const) as string,
    teacher: choiceOption(values.model, '--model', TEACHER_NAMES) as TeacherName,
    batch: positiveInteger(values.batch, '--batch') as number,
    steps: positiveInteger(values.steps, '--steps') as number,
    shapes: values.shapes,
  };
});

await useFastestBackend({ prefer: 'wasm', log: (m) => console.error(m) });
const net = TEACHERS[teacher]();

interface KernelTime {
  calls: number;
  inclusiveMs: number;
  exclusiveMs: number;
}
const times = new Map<string, KernelTime>();
/** The kernels now running, outermost first, with the time spent in kernels they called. */
const running: { name: string; childMs: number }[] = [];
for (const config of tf.getKernelsForBackend('wasm')) {
  const original = config.kernelFunc;
  tf.unregisterKernel(config.kernelName, 'wasm');
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      // Keyed by the call path: Conv2D called by Conv2DBackpropFilter is 'Conv2DBackpropFilter > Conv2D'.
      const inputShapes = shapes ? ` ${JSON.stringify(Object.values(args.inputs).map((t) => t?.shape))}` : '';
      const name = [...running.map((r) => r.name), config.kernelName].join(' > ') + inputShapes;
      running.push({ name: config.kernelName, childMs: 0 });
      const start = performance.now();
      const out = original(args);
      const ms = performance.now() - start;
      const { childMs } = running.pop() as { childMs: number };
      const parent = running.at(-1);
      if (parent) parent.childMs += ms;
      const t = times.get(name) ?? { calls: 0, inclusiveMs: 0, exclusiveMs: 0 };
      t.calls++;
      t.inclusiveMs += ms;
      t.exclusiveMs += ms - childMs;
      times.set(name, t);
      return out;
    },
  });
}

let stepMs: number;
if (bench === 'train-step') {
  const half = new ResNetHalf(net, 0.01);
  const { image, classes } = teacherShape(net);
  const x = tf.randomNormal([batch, ...image], 0, 1, 'float32', 1);
  const y = tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32', 2), classes));
  const step = () => half.apply(half.gradients(x, y));
  step(); // warm-up: optimiser state, first-call setup
  times.clear();
  const start = performance.now();
  for (let s = 0; s < steps; s++) step();
  stepMs = (performance.now() - start) / steps;
  half.dispose();
  tf.dispose([x, y]);
} else if (bench === 'synthesis-step') {
  const { classes } = teacherShape(net);
  const targets = new Float32Array(batch * classes).map((_, k) =>
    k % classes === Math.floor(k / classes) % classes ? 1 : 0,
  );
  const synthesize = async (count: number) =>
    (await synthesizeImages(net, { targets, batchSize: batch, steps: count, seed: 1 })).dispose();
  await synthesize(1); // warm-up: taps, optimiser, first-call setup
  times.clear();
  const start = performance.now();
  await synthesize(steps);
  stepMs = (performance.now() - start) / steps;
} else {
  // Two set-up iterations (optimiser state, calibration), then `steps` counted ones.
  const { times: iterationMs } = await qimeraIterationTimes(net, {
    batch,
    workers: 1,
    iterations: 2 + steps,
    afterIteration: (i) => {
      if (i === 1) times.clear();
    },
  });
  stepMs = iterationMs.slice(2).reduce((a, b) => a + b, 0) / steps;
}
const kernelMs = [...times.values()].reduce((sum, t) => sum + t.exclusiveMs, 0) / steps;

const rows = [...times.entries()]
  .map(([kernel, t]) => ({
    kernel,
    callsPerStep: t.calls / steps,
    exclusiveMsPerStep: t.exclusiveMs / steps,
    inclusiveMsPerStep: t.inclusiveMs / steps,
    share: t.exclusiveMs / steps / stepMs,
  }))
  .sort((a, b) => b.exclusiveMsPerStep - a.exclusiveMsPerStep);
for (const row of rows) console.log(JSON.stringify({ bench, batch, ...row }));
console.log(
  `\n${bench}, batch ${batch}: ${stepMs.toFixed(0)} ms per step (${((batch / stepMs) * 1000).toFixed(1)} img/s), ` +
    `${kernelMs.toFixed(0)} ms of it in kernels (the rest: JavaScript between kernels)`,
);
console.log('\n| kernel | calls per step | exclusive ms | inclusive ms | share of step |\n|---|---|---|---|---|');
for (const r of rows.filter((r) => r.share >= 0.005)) {
  console.log(
    `| ${r.kernel} | ${r.callsPerStep} | ${r.exclusiveMsPerStep.toFixed(1)} | ${r.inclusiveMsPerStep.toFixed(1)} | ${(r.share * 100).toFixed(1)}% |`,
  );
}

net.dispose();
