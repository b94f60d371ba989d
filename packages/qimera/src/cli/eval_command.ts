import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type ImageBatch, parseCifar10, top1Accuracy } from '@qimera/datasets';
import { IntegerModel } from '@qimera/integer';
import { ModelFileError, readFileOrThrow } from '@qimera/node-io';
import type { Tensor } from '@tensorflow/tfjs-core';
import { positiveInteger, UsageError } from '../script_options.js';
import { useBackendOption } from './backend_option.js';
import { IMAGE_FOLDER_OPTIONS, normalizationOptions, readFolderFor } from './image_options.js';
import { loadAnyModel } from './load_any_model.js';
import { EVAL_HELP } from './usage.js';

/** `qimera eval`: prints the top-1 accuracy to `log`. */
export async function evalCommand(args: string[], log: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      cifar10: { type: 'string' },
      images: { type: 'string' },
      classes: { type: 'string' },
      ...IMAGE_FOLDER_OPTIONS,
      limit: { type: 'string' },
      integer: { type: 'boolean', default: false },
      batch: { type: 'string', default: '500' },
      backend: { type: 'string', default: 'auto' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    log(EVAL_HELP);
    return 0;
  }
  const [modelPath, ...extra] = positionals;
  if (!modelPath) throw new UsageError('eval needs the model.json to evaluate');
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  if (!values.cifar10 === !values.images) {
    throw new UsageError(
      'give one test set: --cifar10 <dir> (holding test_batch.bin) or --images <dir> (a folder per class)',
    );
  }
  if (values.cifar10 && (values.mean || values.std || values.classes)) {
    throw new UsageError('--mean, --std and --classes go with --images (CIFAR-10 uses its own normalisation)');
  }
  const limit = positiveInteger(values.limit, '--limit');
  const batch = positiveInteger(values.batch, '--batch') as number;
  const normalization = normalizationOptions(values);
  const cifar = values.cifar10 ? await readCifar10Test(values.cifar10, limit) : null;
  const backend = await useBackendOption(values.backend);
  const { model, exported } = await loadAnyModel(modelPath);
  const folder = values.images
    ? await readFolderFor(model, values.images, normalization, true, {
        ...(values.classes ? { classes: values.classes.split(',') } : {}),
        ...(limit !== undefined ? { limit } : {}),
      })
    : null;
  const test = (cifar ?? folder) as ImageBatch;
  const predict = values.integer
    ? (
        (integer) => (x: Tensor) =>
          integer.predict(x)
      )(IntegerModel.fromQuantized(model))
    : (x: Tensor) => model.predict(x) as Tensor;
  const accuracy = top1Accuracy(predict, test, batch);
  const kind = `${exported ? 'exported artifact' : 'tfjs model'}${values.integer ? ', integer arithmetic' : ''}`;
  const source = folder ? `images of ${folder.classes.length} classes in ${values.images}` : 'CIFAR-10 test images';
  log(`top-1 ${(100 * accuracy).toFixed(2)}% on ${test.count} ${source} (${kind}, ${backend})`);
  return 0;
}

async function readCifar10Test(dir: string, limit: number | undefined): Promise<ImageBatch> {
  const testFile = join(dir, 'test_batch.bin');
  const bytes = await readFileOrThrow(testFile, 'CIFAR-10 test batch');
  try {
    return parseCifar10(
      new Uint8Array(bytes),
      limit === undefined ? {} : { count: Math.min(limit, bytes.length / 3073) },
    );
  } catch (error) {
    throw new ModelFileError(testFile, (error as Error).message);
  }
}
