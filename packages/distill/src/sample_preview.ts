import type { LabelBatch } from '@qimera/superposition';
import { dispose, type Tensor, tensor2d, tidy } from '@tensorflow/tfjs-core';
import { type GeneratorModels, generateFromLabels } from './generate_from_labels.js';
import { type DistillOptions, latentSettings } from './settings.js';

/** Images of one kind (plain or superposed) that the generator made for a preview. */
export interface GeneratedSamples {
  /** NHWC float32 values, preprocessed as the teacher takes them. */
  images: Float32Array;
  shape: [number, number, number, number];
  /** Per image, the classes its latent mixes and their coefficients (one class with 1 for a plain image). */
  mixes: { classes: number[]; coefficients: number[] }[];
}

/** A preview of what the generator makes now: plain class images and two-class mixes. */
export interface SamplePreview {
  plain: GeneratedSamples;
  superposed: GeneratedSamples;
}

/** Options of {@link previewSamples}. */
export interface SamplePreviewOptions {
  /** Images of each kind, spread over the classes. Default: the class count, at most 10. */
  count?: number;
  /** Seed of the latents' noise: the same seed shows the same latents as the generator learns. Default 1. */
  seed?: number;
  /** The trainer's `noiseScale` and `embeddingNormalization`, with the trainer's defaults. */
  settings?: Pick<DistillOptions, 'noiseScale' | 'embeddingNormalization'>;
}

/**
 * Generates a preview batch the way training generates its images (see
 * `generateFromLabels`), for fixed latents: `count` plain images of classes spread over
 * the class range, and as many even mixes of each class with the next shown one
 * (Qimera's superposed latents with two slots). Plain and superposed images are
 * separate batches, as in training, since the generator normalises by batch statistics.
 * Draws nothing from the trainer's random stream, so a run trains the same with or
 * without previews; the generator's BatchNorm moving averages (which generation, always
 * in training mode, never reads) do move.
 */
export function previewSamples(models: GeneratorModels, options: SamplePreviewOptions = {}): SamplePreview {
  const numClasses = models.embedding.numClasses;
  const count = options.count ?? Math.min(numClasses, 10);
  if (!(Number.isInteger(count) && count >= 2)) {
    throw new RangeError(`previewSamples: count must be an integer of at least 2, got ${String(count)}`);
  }
  const shown = Array.from({ length: count }, (_, i) => Math.floor((i * numClasses) / count));
  const settings = latentSettings(options.settings ?? {});
  const seed = options.seed ?? 1;
  if (!(Number.isInteger(seed) && seed >= 1)) {
    throw new RangeError(`previewSamples: seed must be a positive integer, got ${String(seed)}`);
  }
  const generate = (mixes: GeneratedSamples['mixes'], noiseSeed: number): GeneratedSamples => {
    const labels = labelBatch(mixes, numClasses);
    const images = tidy(() =>
      generateFromLabels(models, labels, tensor2d(labels.targets, [count, numClasses]), settings, noiseSeed),
    ) as Tensor;
    try {
      const [n, h, w, c] = images.shape as [number, number, number, number];
      return { images: images.dataSync() as Float32Array, shape: [n, h, w, c], mixes };
    } finally {
      dispose(images);
    }
  };
  return {
    plain: generate(
      shown.map((c) => ({ classes: [c], coefficients: [1] })),
      seed,
    ),
    superposed: generate(
      shown.map((c, i) => ({ classes: [c, shown[(i + 1) % count] as number], coefficients: [0.5, 0.5] })),
      seed + 1,
    ),
  };
}

/** The label batch of given mixes (all with the same number of slots). */
function labelBatch(mixes: GeneratedSamples['mixes'], numClasses: number): LabelBatch {
  const slots = mixes[0]?.classes.length ?? 1;
  const targets = new Float32Array(mixes.length * numClasses);
  mixes.forEach((mix, i) => {
    mix.classes.forEach((c, k) => {
      targets[i * numClasses + c] = (targets[i * numClasses + c] as number) + (mix.coefficients[k] as number);
    });
  });
  return {
    batchSize: mixes.length,
    numClasses,
    superposed: slots > 1,
    slots,
    classes: Int32Array.from(mixes.flatMap((m) => m.classes)),
    coefficients: Float32Array.from(mixes.flatMap((m) => m.coefficients)),
    targets,
  };
}
