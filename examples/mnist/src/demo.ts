// The embedded demo: quantize the MNIST teacher (a committed fixture) without any data,
// with the naive 'minmax' baseline, the calibrated start ('mse', no training) and Qimera
// (trained from that start), and compare held-out accuracy with each model's fidelity to
// the teacher on synthesized images (which needs no data).
// Run from the repo root: pnpm demo [-- --iterations N]
// The backend this script trains on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type DataFreeMethod, type Fidelity, quantizeDataFree, useFastestBackend } from 'qimera';
import {
  loadLayersModelFromFile,
  nonNegativeInteger,
  positiveInteger,
  progressBar,
  readScriptOptions,
  saveLayersModelToDir,
  scriptArguments,
} from 'qimera/node';
import { loadDigits } from './digits.js';
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
const METHODS: DataFreeMethod[] = ['minmax', 'mse', 'qimera'];

await useFastestBackend({ log: console.log });
const teacher = await loadLayersModelFromFile(TEACHER);
const heldout = loadDigits('heldout');
const fp = accuracy(teacher, heldout);
console.log(`FP teacher: ${pct(fp)} on ${heldout.labels.length} held-out digits`);

const results: Record<string, Record<string, number>> = { minmax: {}, mse: {}, qimera: {} };
const fidelities: Record<string, Record<string, Fidelity | null>> = { minmax: {}, mse: {}, qimera: {} };
for (const setting of SETTINGS) {
  for (const method of METHODS) {
    const { model: student, report } = await quantizeDataFree(teacher, {
      method,
      backend: 'current',
      weightBits: setting.bits,
      activationBits: setting.bits,
      seed,
      // Minutes on a laptop CPU instead of the paper's 80,000 iterations: an iteration
      // budget (runs repeat exactly for a seed), 50 generator-only iterations first, a
      // generator of a quarter of the width.
      iterations,
      batchSize: 64,
      iterationsPerEpoch: 50,
      warmupEpochs: 1,
      lrMilestones: [],
      generator: { baseChannels: 32 },
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
    if (method === 'qimera' && setting.name === 'W4A4') {
      const dir = `${values.out}/qimera-w4a4`;
      await saveLayersModelToDir(student, dir);
      const reloaded = await loadLayersModelFromFile(`${dir}/model.json`);
      console.log(`  saved to ${dir}; reloaded: ${pct(accuracy(reloaded, heldout))}`);
      reloaded.dispose();
    }
    student.dispose();
  }
}

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
