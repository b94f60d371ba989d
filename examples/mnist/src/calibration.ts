// The calibration ablation (no training) on the demo's MNIST teacher and its held-out digits:
//   pnpm --filter @qimera/example-mnist calibration -- --bits 8/8,5/5,4/4,3/3
// The backend this script trains on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { useFastestBackend } from 'qimera';
import { loadLayersModelFromFile, readScriptOptions, scriptArguments } from 'qimera/node';
import { ABLATION_ARGS, ablationOptions, runCalibrationAblation } from '../../bench/src/calibration_ablation.js';
import { loadDigits } from './digits.js';
import { accuracy } from './evaluate.js';

const options = readScriptOptions('calibration', () => {
  const { values } = parseArgs({ args: scriptArguments(), options: ABLATION_ARGS });
  return ablationOptions(values);
});
await useFastestBackend({ log: console.error });
const teacher = await loadLayersModelFromFile(
  fileURLToPath(new URL('../fixtures/teacher/model.json', import.meta.url)),
);
const heldout = loadDigits('heldout');
await runCalibrationAblation(teacher, (model) => accuracy(model, heldout), options);
