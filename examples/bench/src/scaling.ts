// Where the two-thread ResNet-20 speed-up goes below 2x. For the forward and the
// training step, wasm, in img/s:
//   one thread at the full batch; one thread at half the batch (what a half costs on
//   its own); two threads each running a half at once with nothing exchanged (what the
//   machine gives two independent threads); and the data-parallel step of `pnpm bench`
//   (halves plus gradient exchange, averaging and both updates).
// The rounds alternate between the variants so drift in machine speed hits all of them.
// Prints one JSON line per variant (medians over rounds), then a table.
//   pnpm --filter @qimera/bench scaling [-- --batch 64 --rounds 3 --repeats 3]
import '@tensorflow/tfjs-backend-wasm';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { useFastestBackend } from 'qimera';
import { positiveInteger, readScriptOptions, scriptArguments, UsageError } from 'qimera/node';
import { ResNetHalf } from './resnet_half.js';
import { buildResNet20 } from './resnets.js';
import { median } from './stats.js';
import { TwoThreadResNet } from './two_threads.js';

const { batch, rounds, repeats } = readScriptOptions('scaling', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      batch: { type: 'string', default: '64' },
      rounds: { type: 'string', default: '3' },
      repeats: { type: 'string', default: '3' },
    },
  });
  const batch = positiveInteger(values.batch, '--batch') as number;
  // Two halves of the batch, one per thread.
  if (batch % 2 !== 0) throw new UsageError(`--batch must be even, got '${values.batch}'`);
  return {
    batch,
    rounds: positiveInteger(values.rounds, '--rounds') as number,
    repeats: positiveInteger(values.repeats, '--repeats') as number,
  };
});

await useFastestBackend({ prefer: 'wasm', log: (m) => console.error(m) });
const net = buildResNet20();
const half = new ResNetHalf(net, 0.01);
const twoThreads = await TwoThreadResNet.start(net, 'wasm', 0.01);
const full = { x: tf.randomNormal([batch, 32, 32, 3], 0, 1, 'float32', 1), y: oneHotLabels(batch, 2) };
const halfBatch = { x: tf.slice(full.x, 0, batch / 2), y: tf.slice(full.y, 0, batch / 2) };

interface Variant {
  bench: 'forward' | 'train-step';
  /** What runs: 'one-thread', 'one-thread-half', 'two-independent-halves', 'two-threads'. */
  variant: string;
  threads: number;
  /** Images one call processes (over all threads). */
  images: number;
  run: () => Promise<void> | void;
}

const variants: Variant[] = [];
for (const bench of ['forward', 'train-step'] as const) {
  const localRun = (data: typeof full) =>
    bench === 'forward' ? () => half.forward(data.x) : () => half.apply(half.gradients(data.x, data.y));
  variants.push(
    { bench, variant: 'one-thread', threads: 1, images: batch, run: localRun(full) },
    { bench, variant: 'one-thread-half', threads: 1, images: batch / 2, run: localRun(halfBatch) },
    {
      bench,
      variant: 'two-independent-halves',
      threads: 2,
      images: batch,
      run: () => twoThreads.independentHalves(bench, halfBatch.x, halfBatch.y, localRun(halfBatch)),
    },
    {
      bench,
      variant: 'two-threads',
      threads: 2,
      images: batch,
      run: bench === 'forward' ? () => twoThreads.forward(full.x) : () => twoThreads.trainStep(full.x, full.y),
    },
  );
}

const perRound: number[][] = variants.map(() => []);
for (const v of variants) await v.run(); // warm-up: kernels, optimiser state
for (let round = 0; round < rounds; round++) {
  for (const [i, v] of variants.entries()) {
    const start = performance.now();
    for (let r = 0; r < repeats; r++) await v.run();
    perRound[i]?.push((v.images * repeats * 1000) / (performance.now() - start));
  }
}

const rows = variants.map((v, i) => ({
  bench: v.bench,
  variant: v.variant,
  backend: 'wasm',
  threads: v.threads,
  batch: v.images,
  imgPerSec: median(perRound[i] as number[]),
  rounds: perRound[i],
}));
for (const row of rows) console.log(JSON.stringify(row));
console.log('\n| bench | variant | threads | images per call | img/s (median) |\n|---|---|---|---|---|');
for (const row of rows) {
  console.log(`| ${row.bench} | ${row.variant} | ${row.threads} | ${row.batch} | ${row.imgPerSec.toFixed(1)} |`);
}

half.dispose();
await twoThreads.dispose();
tf.dispose([full.x, full.y, halfBatch.x, halfBatch.y]);
net.dispose();

function oneHotLabels(n: number, seed: number): tf.Tensor {
  return tf.tidy(() => tf.oneHot(tf.randomUniform([n], 0, 10, 'int32', seed), 10));
}
