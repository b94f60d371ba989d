// The embedded demo: quantize the MNIST teacher (a committed fixture) without data
// and compare held-out accuracy. Run from the repo root: pnpm demo
import { fileURLToPath } from 'node:url';
import { registerWasmTrainingKernels } from '@qimera/wasm-training';
import * as tf from '@tensorflow/tfjs-core';
import { calibrateActivationRanges, quantizeModel } from 'qimera';
import { loadLayersModelFromFile, saveLayersModelToDir } from 'qimera/node';
import { loadDigits } from './digits.js';
import { accuracy } from './evaluate.js';

const TEACHER = fileURLToPath(new URL('../fixtures/teacher/model.json', import.meta.url));
const OUT = fileURLToPath(new URL('../.output/minmax-w4a4', import.meta.url));
const SETTINGS = [
  { name: 'W8A8', weightBits: 8, activationBits: 8 },
  { name: 'W4A4', weightBits: 4, activationBits: 4 },
  { name: 'W3A3', weightBits: 3, activationBits: 3 },
] as const;

registerWasmTrainingKernels();
await tf.setBackend('wasm');
console.log(`backend: ${tf.getBackend()}`);
const teacher = await loadLayersModelFromFile(TEACHER);
const heldout = loadDigits('heldout');
const fp = accuracy(teacher, heldout);

// 'minmax': the naive data-free baseline, activation ranges from N(0, 1) images.
const results: Record<string, number> = {};
for (const setting of SETTINGS) {
  const student = await quantizeModel(teacher, setting);
  const noise = [1, 2, 3, 4].map((seed) => tf.randomNormal([64, 28, 28, 1], 0, 1, 'float32', seed));
  await calibrateActivationRanges(student, noise);
  tf.dispose(noise);
  results[setting.name] = accuracy(student, heldout);
  if (setting.name === 'W4A4') {
    await saveLayersModelToDir(student, OUT);
    const reloaded = await loadLayersModelFromFile(`${OUT}/model.json`);
    console.log(`W4A4 saved to ${OUT} and reloaded: accuracy ${pct(accuracy(reloaded, heldout))}`);
    reloaded.dispose();
  }
  student.dispose();
}

console.log(`\nheld-out digits: ${heldout.labels.length}`);
console.log('| model | accuracy |\n|---|---|');
console.log(`| FP teacher | ${pct(fp)} |`);
for (const [name, value] of Object.entries(results)) console.log(`| minmax ${name} | ${pct(value)} |`);
console.log(JSON.stringify({ fp, minmax: results }));

function pct(value: number): string {
  return `${(100 * value).toFixed(2)}%`;
}
