import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import type { ImageBatch } from '@qimera/datasets';
import { ModelFileError } from '@qimera/node-io';
import { cast, mean as channelMean, image, slice, type Tensor3D, tensor3d, tidy } from '@tensorflow/tfjs-core';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';

/** How {@link readImageFolder} turns files into model inputs. */
export interface ImageFolderOptions {
  /** The model's input size; images of other sizes are resized (bilinear). */
  height: number;
  width: number;
  /** 3 (RGB) or 1 (the mean of R, G and B). */
  channels: number;
  /** Per-channel `(x / 255 - mean) / std`; one value applies to every channel. Default 0 and 1. */
  mean?: readonly number[];
  std?: readonly number[];
  /**
   * `true`: `dir` holds one subfolder per class, named as the class; classes are
   * numbered in sorted name order unless {@link classes} gives the order. `false`: every
   * image below `dir`, unlabelled (labels are all 0).
   */
  labelled: boolean;
  /** Class names in the model's output order (labelled folders only). */
  classes?: readonly string[];
  /** Decode only the first this many images (in sorted path order). Default: all. */
  limit?: number;
}

/** Decoded images and where they came from. */
export interface ImageFolder extends ImageBatch {
  /** Class names by label (empty for an unlabelled folder). */
  classes: string[];
  files: string[];
}

const DECODERS: Record<string, (bytes: Buffer) => { width: number; height: number; data: Uint8Array }> = {
  '.png': (bytes) => PNG.sync.read(bytes),
  '.jpg': (bytes) => jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true }),
  '.jpeg': (bytes) => jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true }),
};

/**
 * Reads PNG and JPEG files from a folder into normalised NHWC float32 images for a
 * model's input, with labels from subfolder names when `labelled`. Other files are
 * ignored; a folder without images, an unknown class name or an undecodable file is an
 * error naming it.
 */
export async function readImageFolder(dir: string, options: ImageFolderOptions): Promise<ImageFolder> {
  const { height, width, channels } = options;
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`readImageFolder: the model takes ${channels} channels; images give 1 (grey) or 3 (RGB)`);
  }
  const mean = perChannel(options.mean ?? [0], channels, 'mean');
  const std = perChannel(options.std ?? [1], channels, 'std');
  if (std.some((s) => !(s > 0))) throw new RangeError(`readImageFolder: std must be positive, got ${std.join(',')}`);
  const listed = await listImages(dir, options);
  const entries = options.limit === undefined ? listed.entries : listed.entries.slice(0, options.limit);
  if (entries.length === 0) throw new ModelFileError(dir, 'no PNG or JPEG image found');
  const pixels = height * width * channels;
  const images = new Float32Array(entries.length * pixels);
  const labels = new Uint8Array(entries.length);
  for (const [n, entry] of entries.entries()) {
    const bytes = await readFile(entry.file);
    let decoded: { width: number; height: number; data: Uint8Array };
    try {
      decoded = (DECODERS[extname(entry.file).toLowerCase()] as (typeof DECODERS)[string])(bytes);
    } catch (error) {
      throw new ModelFileError(entry.file, `cannot decode the image (${(error as Error).message})`);
    }
    const values = tidy(() => {
      const rgba = cast(tensor3d(decoded.data, [decoded.height, decoded.width, 4], 'int32'), 'float32');
      const rgb = slice(rgba, [0, 0, 0], [-1, -1, 3]);
      const picked = channels === 1 ? channelMean(rgb, -1, true) : rgb;
      return image.resizeBilinear(picked as Tensor3D, [height, width]).dataSync();
    });
    for (let i = 0; i < pixels; i++) {
      const c = i % channels;
      images[n * pixels + i] = ((values[i] as number) / 255 - (mean[c] as number)) / (std[c] as number);
    }
    labels[n] = entry.label;
  }
  return {
    images,
    labels,
    count: entries.length,
    shape: [entries.length, height, width, channels],
    classes: listed.names,
    files: entries.map((e) => e.file),
  };
}

interface Entry {
  file: string;
  label: number;
}

async function listImages(dir: string, options: ImageFolderOptions): Promise<{ entries: Entry[]; names: string[] }> {
  const all = await walk(dir).catch((error: NodeJS.ErrnoException) => {
    throw new ModelFileError(dir, error.code === 'ENOENT' ? 'folder not found' : `cannot read it (${error.code})`);
  });
  const images = all.filter((file) => extname(file).toLowerCase() in DECODERS).sort();
  if (!options.labelled) return { entries: images.map((file) => ({ file, label: 0 })), names: [] };
  const classOf = (file: string) => file.slice(dir.length + 1).split(/[\\/]/)[0] as string;
  const names = options.classes ? [...options.classes] : [...new Set(images.map(classOf))].sort();
  if (names.length > 256) throw new ModelFileError(dir, `${names.length} classes; at most 256 are supported`);
  const entries = images
    .filter((file) => file.slice(dir.length + 1).includes('/'))
    .map((file) => {
      const className = classOf(file);
      const label = names.indexOf(className);
      if (label < 0) throw new ModelFileError(file, `class folder '${className}' is not one of the given classes`);
      return { file, label };
    });
  return { entries, names };
}

async function walk(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await walk(path)));
    else if (entry.isFile()) found.push(path);
  }
  return found;
}

function perChannel(values: readonly number[], channels: number, what: string): number[] {
  if (values.some((v) => !Number.isFinite(v))) {
    throw new RangeError(`readImageFolder: ${what} must be finite numbers, got ${values.join(',')}`);
  }
  if (values.length === 1) return Array.from({ length: channels }, () => values[0] as number);
  if (values.length !== channels) {
    throw new RangeError(`readImageFolder: ${what} needs 1 or ${channels} values, got ${values.length}`);
  }
  return [...values];
}
