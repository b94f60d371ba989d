// Fidelity against held-out accuracy over a Qimera run on the MNIST teacher: the
// calibrated start, then every --every iterations a fidelity check (the guard's) and
// the held-out accuracy of the same state. JSON lines, for the fidelity plot.
//   pnpm --filter @qimera/example-mnist track -- --bits 3/3 --iterations 300 > track-w3a3.jsonl
// The backend this script trains on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { quantizeDataFree, useFastestBackend } from 'qimera';
import {
  type BitsOption,
  bitsOption,
  loadLayersModelFromFile,
  positiveInteger,
  readScriptOptions,
  scriptArguments,
} from 'qimera/node';
import { loadDigits } from './digits.js';
import { accuracy } from './evaluate.js';

const options = readScriptOptions('track', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      bits: { type: 'string', default: '4/4' },
      iterations: { type: 'string', default: '300' },
      every: { type: 'string', default: '10' },
      seed: { type: 'string', default: '1' },
    },
  });
  return {
    ...(bitsOption(values.bits) as BitsOption),
    iterations: positiveInteger(values.iterations, '--iterations') as number,
    every: positiveInteger(values.every, '--every') as number,
    seed: positiveInteger(values.seed, '--seed') as number,
  };
});
await useFastestBackend({ log: console.error });
const teacher = await loadLayersModelFromFile(
  fileURLToPath(new URL('../fixtures/teacher/model.json', import.meta.url)),
);
const heldout = loadDigits('heldout');
// The demo's schedule, so the checkpoints are those of the demo's qimera runs.
const schedule = {
  backend: 'current',
  weightBits: options.weightBits,
  activationBits: options.activationBits,
  seed: options.seed,
  batchSize: 64,
  iterationsPerEpoch: 50,
  warmupEpochs: 1,
  lrMilestones: [],
  generator: { baseChannels: 32 },
};
// The start alone ('mse' builds the same calibrated student for the same seed).
const start = await quantizeDataFree(teacher, { ...schedule, method: 'mse' });
console.log(
  JSON.stringify({ iteration: 0, accuracy: accuracy(start.model, heldout), fidelity: start.report.fidelity?.start }),
);
start.model.dispose();
const { model, report } = await quantizeDataFree(teacher, {
  ...schedule,
  method: 'qimera',
  iterations: options.iterations,
  guardEvery: options.every,
  onProgress: (p, student) => {
    if (p.phase === 'distill' && p.iteration % options.every === 0) {
      console.log(
        JSON.stringify({ iteration: p.iteration, accuracy: accuracy(student, heldout), fidelity: p.fidelity }),
      );
    }
  },
});
console.log(
  JSON.stringify({
    returnedIteration: report.fidelity?.returnedIteration,
    returnedAccuracy: accuracy(model, heldout),
    bits: `${options.weightBits}/${options.activationBits}`,
    iterations: report.iterations,
    seed: options.seed,
  }),
);
