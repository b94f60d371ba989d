// Soak benchmark: a long qimera run on the MNIST teacher with two workers, sampling the
// main thread's tfjs tensors and bytes and the process's heap and resident memory every
// --every iterations. A leak shows as a count that grows with the iterations. JSON lines,
// then a summary line.
//   pnpm --filter @qimera/example-mnist soak -- --iterations 2000 --every 100
// The backend this script trains on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { quantizeDataFree, useFastestBackend } from 'qimera';
import { loadLayersModelFromFile, positiveInteger, readScriptOptions, scriptArguments } from 'qimera/node';

const options = readScriptOptions('soak', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      iterations: { type: 'string', default: '2000' },
      every: { type: 'string', default: '100' },
      seed: { type: 'string', default: '1' },
    },
  });
  return {
    iterations: positiveInteger(values.iterations, '--iterations') as number,
    every: positiveInteger(values.every, '--every') as number,
    seed: positiveInteger(values.seed, '--seed') as number,
  };
});
const backend = await useFastestBackend({ log: console.error });
const teacher = await loadLayersModelFromFile(
  fileURLToPath(new URL('../fixtures/teacher/model.json', import.meta.url)),
);
const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
const samples: { iteration: number; tensors: number; tensorMB: number; heapMB: number; rssMB: number }[] = [];
const sample = (iteration: number) => {
  const memory = process.memoryUsage();
  const line = {
    iteration,
    tensors: tf.memory().numTensors,
    tensorMB: mb(tf.memory().numBytes),
    heapMB: mb(memory.heapUsed),
    rssMB: mb(memory.rss),
  };
  samples.push(line);
  console.log(JSON.stringify(line));
};
const started = Date.now();
const { model } = await quantizeDataFree(teacher, {
  weightBits: 4,
  activationBits: 4,
  method: 'qimera',
  iterations: options.iterations,
  batchSize: 64,
  iterationsPerEpoch: 50,
  warmupEpochs: 1,
  lrMilestones: [],
  generator: { baseChannels: 32 },
  workers: 2,
  seed: options.seed,
  backend: 'current',
  onProgress: (progress) => {
    if (progress.iteration === 1 || progress.iteration % options.every === 0) sample(progress.iteration);
  },
});
model.dispose();
teacher.dispose();
const [first, second, last] = [samples[0], samples[1], samples[samples.length - 1]];
console.log(
  JSON.stringify({
    summary: true,
    backend,
    iterations: options.iterations,
    minutes: Number(((Date.now() - started) / 60_000).toFixed(1)),
    // From the second sample on: the first iterations allocate optimizer states once.
    tensorsGrowth: (last?.tensors ?? 0) - (second?.tensors ?? 0),
    heapGrowthMB: (last?.heapMB ?? 0) - (second?.heapMB ?? 0),
    rssGrowthMB: (last?.rssMB ?? 0) - (second?.rssMB ?? 0),
    first,
    last,
  }),
);
