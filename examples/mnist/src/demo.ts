// The embedded demo: quantize the MNIST teacher (a committed fixture) without any data,
// with the naive 'minmax' baseline, the calibrated start ('mse', no training), learned
// rounding on synthesized images ('adaround') and Qimera (trained from the calibrated
// start), and compare held-out accuracy with each model's fidelity to the teacher on
// synthesized images (which needs no data).
// Run from the repo root: pnpm demo [-- --iterations N]
// The backend this script trains on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type DataFreeMethod, type Fidelity, FidelitySet, quantizeDataFree, useFastestBackend } from 'qimera';
import {
  loadLayersModelFromFile,
  nonNegativeInteger,
  positiveInteger,
  progressBar,
  readScriptOptions,
  saveLayersModelToDir,
  scriptArguments,
} from 'qimera/node';
import { loadDigits, MNIST_MEAN, MNIST_STD } from './digits.js';
import { accuracy } from './evaluate.js';

const { values, iterations, seed } = readScriptOptions('demo', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      iterations: { type: 'string', default: '300' },
      seed: { type: 'string', default: '1' },
      out: { type: 'string', default: fileURLToPath(new URL('../.output', import.meta.url)) },
    },
  });
  return {
    values,
    iterations: positiveInteger(values.iterations, '--iterations') as number,
    seed: nonNegativeInteger(values.seed, '--seed') as number,
  };
});
const TEACHER = fileURLToPath(new URL('../fixtures/teacher/model.json', import.meta.url));
const SETTINGS = [
  { name: 'W4A4', bits: 4 },
  { name: 'W3A3', bits: 3 },
] as const;
const METHODS: DataFreeMethod[] = ['minmax', 'mse', 'adaround', 'qimera'];
// The teacher's input values: pixels in [0, 1], normalised. Synthesized images kept in
// this range, with the BN statistics weighted more and optimised longer, are much closer
// to real digits (docs/benchmarks.md).
const SYNTHESIS = {
  inputRange: [(0 - MNIST_MEAN) / MNIST_STD, (1 - MNIST_MEAN) / MNIST_STD] as const,
  synthesisSteps: 200,
  synthesisBnsWeight: 10,
};

await useFastestBackend({ log: console.log });
const teacher = await loadLayersModelFromFile(TEACHER);
const heldout = loadDigits('heldout');
const fp = accuracy(teacher, heldout);
console.log(`FP teacher: ${pct(fp)} on ${heldout.labels.length} held-out digits`);

// One fidelity set for every run (synthesized as quantizeDataFree would, with the same seed).
const fidelitySet = await FidelitySet.synthesize(teacher, {
  steps: SYNTHESIS.synthesisSteps,
  bnsWeight: SYNTHESIS.synthesisBnsWeight,
  inputRange: SYNTHESIS.inputRange,
  seed: seed + 104_729,
});
const results: Record<string, Record<string, number>> = Object.fromEntries(METHODS.map((m) => [m, {}]));
const fidelities: Record<string, Record<string, Fidelity | null>> = Object.fromEntries(METHODS.map((m) => [m, {}]));
for (const setting of SETTINGS) {
  for (const method of METHODS) {
    const { model: student, report } = await quantizeDataFree(teacher, {
      method,
      backend: 'current',
      weightBits: setting.bits,
      activationBits: setting.bits,
      seed,
      ...SYNTHESIS,
      fidelitySet,
      // Minutes on a laptop CPU instead of the paper's 80,000 iterations: an iteration
      // budget (runs repeat exactly for a seed), 50 generator-only iterations first, a
      // generator of a quarter of the width.
      iterations,
      batchSize: 64,
      iterationsPerEpoch: 50,
      warmupEpochs: 1,
      lrMilestones: [],
      generator: { baseChannels: 32 },
      // Both cores where the machine has them, as the CLI does (a worker thread synthesizes every
      // other image batch and trains half of each batch).
      workers: availableParallelism() >= 2 ? 2 : 1,
      onProgress: progressBar(`${method} ${setting.name}`),
    });
    const value = accuracy(student, heldout);
    (results[method] as Record<string, number>)[setting.name] = value;
    const fidelity = report.fidelity?.returned ?? null;
    (fidelities[method] as Record<string, Fidelity | null>)[setting.name] = fidelity;
    const from =
      report.fidelity && method === 'qimera' ? `, state of iteration ${report.fidelity.returnedIteration}` : '';
    console.log(
      `${method} ${setting.name}: ${pct(value)}, fidelity ${describe(fidelity)} ` +
        `(${(report.wallTimeMs / 1000).toFixed(1)} s, ${report.iterations} iterations${from})`,
    );
    if (method === 'adaround' && setting.name === 'W4A4') {
      const dir = `${values.out}/adaround-w4a4`;
      await saveLayersModelToDir(student, dir, { overwrite: true });
      const reloaded = await loadLayersModelFromFile(`${dir}/model.json`);
      console.log(`  saved to ${dir}; reloaded: ${pct(accuracy(reloaded, heldout))}`);
      reloaded.dispose();
    }
    student.dispose();
  }
}

fidelitySet.dispose();
console.log('\n| method | W4A4 | W3A3 | fidelity W4A4 | fidelity W3A3 |\n|---|---|---|---|---|');
console.log(`| FP teacher | ${pct(fp)} | ${pct(fp)} | | |`);
for (const method of METHODS) {
  const row = results[method] as Record<string, number>;
  const fidelity = fidelities[method] as Record<string, Fidelity | null>;
  console.log(
    `| ${method} | ${pct(row.W4A4 as number)} | ${pct(row.W3A3 as number)} | ${describe(fidelity.W4A4 ?? null)} | ${describe(fidelity.W3A3 ?? null)} |`,
  );
}
console.log(JSON.stringify({ fp, ...results, fidelity: fidelities }));

function pct(value: number): string {
  return `${(100 * value).toFixed(2)}%`;
}

/** Top-1 agreement and KL on the fidelity set. */
function describe(fidelity: Fidelity | null): string {
  return fidelity ? `${pct(fidelity.all.agreement)} / KL ${fidelity.all.kl.toFixed(4)}` : 'n/a';
}
