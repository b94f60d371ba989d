// tfjs-wasm's own kernels against @qimera/wasm-training's replacements for them, in one
// process, switching after every training step and every Qimera iteration, so that the
// machine's drift (seen at +-20% within minutes here) hits both alike: ResNet-20
// training step and full Qimera iteration, one thread, wasm. Prints one JSON line per
// measurement (medians of the alternating runs, and the median of the pairs' ratios),
// then a table.
//   pnpm --filter @qimera/bench replacements [-- --kernels Slice,Sum,Mean,Identity --pairs 6 --batch 64]
import '@tensorflow/tfjs-backend-wasm';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { registerWasmTrainingKernels, restoreWasmKernels, useFastestBackend, WASM_FASTER_KERNELS } from 'qimera';
import { positiveInteger, readScriptOptions, scriptArguments } from 'qimera/node';
import { qimeraIterationTimes } from './qimera_iteration.js';
import { ResNetHalf } from './resnet_half.js';
import { buildResNet20 } from './resnets.js';
import { median } from './stats.js';

const { kernels, pairs, batch } = readScriptOptions('replacements', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      kernels: { type: 'string', default: WASM_FASTER_KERNELS.join(',') },
      pairs: { type: 'string', default: '6' },
      batch: { type: 'string', default: '64' },
    },
  });
  return {
    kernels: values.kernels.split(','),
    pairs: positiveInteger(values.pairs, '--pairs') as number,
    batch: positiveInteger(values.batch, '--batch') as number,
  };
});

await useFastestBackend({ prefer: 'wasm', log: (m) => console.error(m) });
/** Even runs use tfjs-wasm's kernels, odd runs the replacements. */
const useKernelsFor = (run: number) =>
  run % 2 === 0 ? restoreWasmKernels(kernels) : registerWasmTrainingKernels({ replaceSlowKernels: kernels });

const net = buildResNet20();
const half = new ResNetHalf(net, 0.01);
const x = tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 1);
const y = tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10));
half.apply(half.gradients(x, y)); // warm-up
const stepMs: number[] = [];
for (let run = 0; run < 2 * pairs; run++) {
  useKernelsFor(run);
  const start = performance.now();
  half.apply(half.gradients(x, y));
  stepMs.push(performance.now() - start);
}

// Iterations 0 and 1 set up; from iteration 2 on, even iterations run on tfjs-wasm's kernels.
useKernelsFor(0);
const iterationMs = (
  await qimeraIterationTimes(net, {
    batch,
    workers: 1,
    iterations: 2 + 2 * pairs,
    afterIteration: (i) => useKernelsFor(i + 1),
  })
).times.slice(2);
registerWasmTrainingKernels();

const rows = (
  [
    ['train-step', stepMs],
    ['qimera-iteration', iterationMs],
  ] as const
).map(([bench, ms]) => {
  const original = ms.filter((_, i) => i % 2 === 0);
  const replaced = ms.filter((_, i) => i % 2 === 1);
  const imgPerSec = (list: number[]) => (batch / median(list)) * 1000;
  return {
    bench,
    replaced: kernels,
    backend: 'wasm',
    workers: 1,
    batch,
    originalImgPerSec: imgPerSec(original),
    replacedImgPerSec: imgPerSec(replaced),
    speedup: median(original.map((o, i) => o / (replaced[i] as number))),
    originalMs: original,
    replacedMs: replaced,
  };
});
for (const row of rows) console.log(JSON.stringify(row));
console.log(
  `\nreplaced: ${kernels.join(', ')}\n\n| bench | tfjs-wasm kernels, img/s | replacements, img/s | speed-up (median of ${pairs} pairs) |\n|---|---|---|---|`,
);
for (const r of rows) {
  console.log(
    `| ${r.bench} | ${r.originalImgPerSec.toFixed(1)} | ${r.replacedImgPerSec.toFixed(1)} | ${r.speedup.toFixed(2)}x |`,
  );
}

half.dispose();
tf.dispose([x, y]);
net.dispose();
