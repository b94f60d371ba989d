import { parseArgs } from 'node:util';
import { perImageFidelity } from '@qimera/quantizers';
import { stack, sum, type Tensor, tensor4d, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { ImageFolder } from '../image_folder.js';
import { positiveInteger, UsageError } from '../script_options.js';
import { useBackendOption } from './backend_option.js';
import { IMAGE_FOLDER_OPTIONS, normalizationOptions, readFolderFor } from './image_options.js';
import { loadAnyModel } from './load_any_model.js';
import { COMPARE_HELP } from './usage.js';

/** `qimera compare`: how often a quantized model agrees with its teacher on unlabelled images. */
export async function compareCommand(args: string[], log: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      images: { type: 'string' },
      ...IMAGE_FOLDER_OPTIONS,
      batch: { type: 'string', default: '100' },
      backend: { type: 'string', default: 'auto' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    log(COMPARE_HELP);
    return 0;
  }
  const [quantizedPath, teacherPath, ...extra] = positionals;
  if (!quantizedPath || !teacherPath)
    throw new UsageError('compare needs two model.json files: the quantized model and its teacher');
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  if (!values.images) throw new UsageError('--images <dir> is required (any images, no labels needed)');
  const batch = positiveInteger(values.batch, '--batch') as number;
  const normalization = normalizationOptions(values);
  await useBackendOption(values.backend);
  const quantized = (await loadAnyModel(quantizedPath)).model;
  const teacher = (await loadAnyModel(teacherPath)).model;
  const folder = await readFolderFor(teacher, values.images, normalization, false);
  const { agreement, kl } = agreementOn(quantized, teacher, folder, batch);
  log(
    `agreement with the teacher: top-1 ${(100 * agreement).toFixed(2)}%, KL ${kl.toFixed(4)} nats, ` +
      `on ${folder.count} images in ${values.images}`,
  );
  return 0;
}

/** Top-1 agreement and mean KL(teacher ‖ model) of two models over a folder's images. */
function agreementOn(
  model: LayersModel,
  teacher: LayersModel,
  folder: ImageFolder,
  batchSize: number,
): { agreement: number; kl: number } {
  const [, height, width, channels] = folder.shape;
  const pixels = height * width * channels;
  let agreeing = 0;
  let divergence = 0;
  for (let start = 0; start < folder.count; start += batchSize) {
    const n = Math.min(batchSize, folder.count - start);
    const sums = tidy(() => {
      const x = tensor4d(folder.images.subarray(start * pixels, (start + n) * pixels), [n, height, width, channels]);
      const { agreement, kl } = perImageFidelity(model.predict(x) as Tensor, teacher.predict(x) as Tensor);
      return stack([sum(agreement), sum(kl)]);
    });
    const [same, kl] = sums.dataSync() as Float32Array;
    sums.dispose();
    agreeing += same as number;
    divergence += kl as number;
  }
  return { agreement: agreeing / folder.count, kl: divergence / folder.count };
}
