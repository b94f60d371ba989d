import '@tensorflow/tfjs-backend-wasm';
import { fileURLToPath } from 'node:url';
import { quantizeDataFree, useFastestBackend } from 'qimera';
import { loadLayersModelFromFile } from 'qimera/node';
import { bundledDigits } from './bundled_digits.js';
import { decodeDigits } from './src/digits.js';
import { dataFreeOptions } from './src/run_settings.js';

const digits = decodeDigits(bundledDigits(10));
await useFastestBackend({ prefer: 'wasm' });
const teacher = await loadLayersModelFromFile(
  fileURLToPath(new URL('../mnist/fixtures/teacher/model.json', import.meta.url)),
);
const t0 = Date.now();
const { report } = await quantizeDataFree(
  teacher,
  dataFreeOptions({
    weightBits: 4,
    activationBits: 4,
    method: (process.argv[2] ?? 'mse') as 'mse',
    minutes: null,
    iterations: Number(process.argv[3] ?? 60),
    seed: 1,
    inputRange: process.argv[4] === 'norange' ? null : digits.inputRange,
    generatorChannels: 32,
  }),
);
console.log(Date.now() - t0, report.start?.wallTimeMs);
