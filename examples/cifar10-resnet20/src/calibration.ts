// The calibration ablation (no training) on the ResNet-20 teacher and the CIFAR-10 test set:
//   pnpm --filter @qimera/example-cifar10 calibration -- --bits 8/8,5/5,4/4,3/3
// The backend this script trains on (qimera registers none itself).
import '@tensorflow/tfjs-backend-wasm';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Tensor } from '@tensorflow/tfjs-core';
import { parseCifar10, top1Accuracy, useFastestBackend } from 'qimera';
import { loadLayersModelFromFile, positiveInteger, readScriptOptions, scriptArguments } from 'qimera/node';
import { ABLATION_ARGS, ablationOptions, runCalibrationAblation } from '../../bench/src/calibration_ablation.js';

const shared = process.env.QIMERA_SHARED ?? resolve(fileURLToPath(new URL('../../../..', import.meta.url)), 'shared');
const options = readScriptOptions('calibration', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      ...ABLATION_ARGS,
      'eval-images': { type: 'string', default: '10000' },
      teacher: { type: 'string', default: join(shared, 'models/resnet20-cifar10/model.json') },
      data: { type: 'string', default: join(shared, 'datasets/cifar-10-batches-bin') },
    },
  });
  return { ...values, ...ablationOptions(values), evalImages: positiveInteger(values['eval-images'], '--eval-images') };
});

await useFastestBackend({ log: console.error });
const teacher = await loadLayersModelFromFile(options.teacher);
const bytes = await readFile(join(options.data, 'test_batch.bin'));
const test = parseCifar10(new Uint8Array(bytes), { count: options.evalImages as number });
await runCalibrationAblation(teacher, (model) => top1Accuracy((x) => model.predict(x) as Tensor, test), options);
