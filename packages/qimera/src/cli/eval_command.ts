import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseCifar10, top1Accuracy } from '@qimera/datasets';
import { IntegerModel } from '@qimera/integer';
import { ModelFileError } from '@qimera/node-io';
import type { Tensor } from '@tensorflow/tfjs-core';
import { useFastestBackend } from '../backend.js';
import { positiveInteger, UsageError } from '../script_options.js';
import { loadAnyModel } from './load_any_model.js';
import { EVAL_HELP } from './usage.js';

/** `qimera eval`: prints the top-1 accuracy to `log`. */
export async function evalCommand(args: string[], log: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      cifar10: { type: 'string' },
      limit: { type: 'string' },
      integer: { type: 'boolean', default: false },
      batch: { type: 'string', default: '500' },
      backend: { type: 'string', default: 'auto' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    log(EVAL_HELP);
    return;
  }
  const [modelPath, ...extra] = positionals;
  if (!modelPath) throw new UsageError('eval needs the model.json to evaluate');
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  if (!values.cifar10) throw new UsageError('--cifar10 <dir> is required (the folder holding test_batch.bin)');
  const limit = positiveInteger(values.limit, '--limit');
  const batch = positiveInteger(values.batch, '--batch') as number;

  const testFile = join(values.cifar10, 'test_batch.bin');
  const bytes = await readFile(testFile).catch((error: NodeJS.ErrnoException) => {
    throw new ModelFileError(
      testFile,
      error.code === 'ENOENT' ? 'CIFAR-10 test batch not found' : `cannot read it (${error.code})`,
    );
  });
  let test: ReturnType<typeof parseCifar10>;
  try {
    test = parseCifar10(
      new Uint8Array(bytes),
      limit === undefined ? {} : { count: Math.min(limit, bytes.length / 3073) },
    );
  } catch (error) {
    throw new ModelFileError(testFile, (error as Error).message);
  }
  const backend = await useFastestBackend({
    ...(values.backend === 'auto' ? {} : { prefer: values.backend }),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  const { model, exported } = await loadAnyModel(modelPath);
  const predict = values.integer
    ? (
        (integer) => (x: Tensor) =>
          integer.predict(x)
      )(IntegerModel.fromQuantized(model))
    : (x: Tensor) => model.predict(x) as Tensor;
  const accuracy = top1Accuracy(predict, test, batch);
  const kind = `${exported ? 'exported artifact' : 'tfjs model'}${values.integer ? ', integer arithmetic' : ''}`;
  log(`top-1 ${(100 * accuracy).toFixed(2)}% on ${test.count} CIFAR-10 test images (${kind}, ${backend})`);
}
