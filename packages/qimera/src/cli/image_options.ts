import type { LayersModel } from '@tensorflow/tfjs-layers';
import { type ImageFolder, readImageFolder } from '../image_folder.js';
import { UsageError } from '../script_options.js';

/** The command-line options that describe a folder of images and how to normalise it. */
export const IMAGE_FOLDER_OPTIONS = {
  mean: { type: 'string' },
  std: { type: 'string' },
} as const;

/** `--mean 0.5` or `--mean 0.49,0.48,0.45`: numbers for every channel or one for all. */
export function numberListOption(value: string | undefined, option: string): number[] | undefined {
  if (value === undefined) return undefined;
  const numbers = value.split(',').map((part) => (part.trim() === '' ? Number.NaN : Number(part)));
  if (numbers.some((n) => !Number.isFinite(n))) {
    throw new UsageError(`${option} must be numbers separated by commas (one, or one per channel), got '${value}'`);
  }
  return numbers;
}

/** `--mean` and `--std`, read before any work so a typo fails at once. */
export function normalizationOptions(values: { mean?: string; std?: string }): { mean?: number[]; std?: number[] } {
  const mean = numberListOption(values.mean, '--mean');
  const std = numberListOption(values.std, '--std');
  return { ...(mean ? { mean } : {}), ...(std ? { std } : {}) };
}

/** Reads `dir` for `model`'s input with the given normalisation. */
export function readFolderFor(
  model: LayersModel,
  dir: string,
  normalization: { mean?: number[]; std?: number[] },
  labelled: boolean,
  extra: { classes?: string[]; limit?: number } = {},
): Promise<ImageFolder> {
  const [, height, width, channels] = model.inputs[0]?.shape ?? [];
  if ([height, width, channels].some((d) => typeof d !== 'number')) {
    throw new UsageError(
      `the model's input must be NHWC images of known size to read --images, got [${model.inputs[0]?.shape}]`,
    );
  }
  return readImageFolder(dir, {
    height: height as number,
    width: width as number,
    channels: channels as number,
    labelled,
    ...normalization,
    ...(extra.classes ? { classes: extra.classes } : {}),
    ...(extra.limit !== undefined ? { limit: extra.limit } : {}),
  });
}
