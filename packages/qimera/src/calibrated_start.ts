import { SynthesisPool, type SynthesisStyle, synthesisStyle } from '@qimera/distill';
import type { BiasCorrectionReport, ReconstructionReport, RoundingReconstructionOptions } from '@qimera/quantizers';
import { SeededRandom, sampleLabels } from '@qimera/superposition';
import { concat, dispose, type Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { CALIBRATION_BATCH_SIZE, CALIBRATION_IMAGES, calibrateOnImages } from './calibrate_on_images.js';
import { synthesizeBefore } from './synthesis_schedule.js';

/** Synthesis steps per image batch unless another count is asked for. */
export const SYNTHESIS_STEPS = 20;
/** Images synthesized for learned rounding unless another count is asked for. */
export const RECONSTRUCTION_IMAGES = 256;
/**
 * With a deadline, the share of the time to it that synthesizing learned rounding's
 * images beyond the calibration ones may take; the rest is left for the rounding.
 */
export const RECONSTRUCTION_SYNTHESIS_SHARE = 0.4;

/**
 * Options of {@link calibrateStart}; the synthesis style options are `synthesizeImages`'
 * (an `inputRange` makes synthesized images, and so the ranges calibrated on them, much
 * closer to real ones; with it, `jitter` and `flip` make them useful to learned rounding:
 * docs/benchmarks.md).
 */
export interface CalibratedStartOptions extends SynthesisStyle {
  /** Synthesized calibration images. Default 64. */
  images?: number;
  /** Synthesis steps per batch (see `synthesizeImages`). Default 20. */
  steps?: number;
  /** Images optimised together; fewer use less memory. Default 64. */
  synthesisBatchSize?: number;
  /** Images per calibration and bias-correction pass; fewer use less memory. Default 64. */
  forwardBatchSize?: number;
  /** Empirical bias correction (see `correctBias`). Default true. */
  biasCorrection?: boolean;
  /**
   * The float model whose layers the student's are twins of, for bias correction:
   * `teacher` by default; the BN-folded teacher when the student was folded.
   */
  reference?: LayersModel;
  /**
   * Learned rounding after calibration (see `reconstructRounding`), on `images`
   * synthesized images (the calibration images are the first of them; default 256) with
   * the given options. Default: none.
   */
  reconstruction?: RoundingReconstructionOptions & { images?: number };
  /**
   * When learned rounding must be done, as a `Date.now()` time. Images for it beyond the
   * calibration ones are synthesized batch by batch while a batch is expected to end
   * within {@link RECONSTRUCTION_SYNTHESIS_SHARE} of the time to the deadline (so at
   * 224x224 a short budget rounds on fewer images rather than running out of time), and
   * its time budget is what is left after synthesis and calibration (see `timeBudgetMs`
   * of `reconstructRounding`). Default: none.
   */
  deadline?: number;
  /**
   * Threads to synthesize on: 2 adds a Node.js worker thread, so two batches are
   * optimised at once (see `SynthesisPool`; the same images). It stops before
   * calibration. Default 1.
   */
  workers?: number;
  /** Default 1. */
  seed?: number;
  /** Stops synthesis between steps and reconstruction after its current step: the student is usable either way. */
  signal?: AbortSignal;
}

/** What {@link calibrateStart} did. */
export interface CalibratedStartReport {
  /** Calibration images. */
  images: number;
  /** Images learned rounding used (fewer than asked for when the deadline cut synthesis short); null without it. */
  reconstructionImages: number | null;
  steps: number;
  biasCorrection: BiasCorrectionReport | null;
  /** What learned rounding did, when it ran. */
  reconstruction: ReconstructionReport | null;
  wallTimeMs: number;
}

/**
 * The no-training start: synthesizes images the teacher finds typical (one class each,
 * BN statistics matched), corrects the biases the kernel quantization shifted, then
 * calibrates the student's activation ranges on those images and freezes them, and,
 * with `reconstruction`, learns each kernel's rounding layer by layer on more of them
 * (the part after synthesis is {@link calibrateOnImages}). The student's own settings
 * decide how ranges are chosen; `quantizeDataFree` builds it with
 * {@link CALIBRATED_RANGES}.
 */
export async function calibrateStart(
  teacher: LayersModel,
  student: LayersModel,
  options: CalibratedStartOptions = {},
): Promise<CalibratedStartReport> {
  const started = Date.now();
  const count = options.images ?? CALIBRATION_IMAGES;
  const steps = options.steps ?? SYNTHESIS_STEPS;
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`calibrateStart: images must be a positive integer, got ${count}`);
  }
  const reconstruction = options.reconstruction;
  const reconstructionImages = reconstruction?.images ?? RECONSTRUCTION_IMAGES;
  if (!(Number.isInteger(reconstructionImages) && reconstructionImages >= 1)) {
    throw new RangeError(
      `calibrateStart: reconstruction.images must be a positive integer, got ${String(reconstruction?.images)}`,
    );
  }
  const total = reconstruction ? Math.max(count, reconstructionImages) : count;
  const rng = new SeededRandom(options.seed ?? 1);
  const classes = teacher.outputs[0]?.shape[1] as number;
  const { targets } = sampleLabels(rng, { batchSize: total, numClasses: classes, superposeProbability: 0, slots: 1 });
  const synthesisBatch = options.synthesisBatchSize ?? CALIBRATION_BATCH_SIZE;
  const synthesisSeed = rng.nextSeed();
  const synthesisEnd =
    options.deadline === undefined
      ? Number.POSITIVE_INFINITY
      : started + RECONSTRUCTION_SYNTHESIS_SHARE * (options.deadline - started);
  const pool = await SynthesisPool.start(teacher, options.workers ?? 1);
  let parts: Tensor[];
  try {
    parts = await synthesizeBefore(
      pool.threads,
      (from, to, signal) =>
        pool.synthesize({
          targets: targets.subarray(from * classes, to * classes),
          steps,
          batchSize: synthesisBatch,
          // The seed a single call over all images would give these batches' noise.
          seed: synthesisSeed + from,
          ...synthesisStyle(options),
          signal,
        }),
      { first: count, total, batchSize: synthesisBatch, end: synthesisEnd, signal: options.signal },
    );
  } finally {
    await pool.dispose();
  }
  // The first part holds the calibration images; learned rounding takes all parts.
  const images = parts.length === 1 ? (parts[0] as Tensor) : concat(parts);
  if (parts.length > 1) dispose(parts);
  try {
    const calibrated = await calibrateOnImages(options.reference ?? teacher, student, images, {
      calibrationImages: count,
      forwardBatchSize: options.forwardBatchSize ?? CALIBRATION_BATCH_SIZE,
      biasCorrection: options.biasCorrection ?? true,
      ...(reconstruction ? { reconstruction } : {}),
      ...(options.deadline !== undefined ? { deadline: options.deadline } : {}),
      seed: rng.nextSeed(),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    return {
      images: count,
      reconstructionImages: calibrated.reconstructionImages,
      steps,
      biasCorrection: calibrated.biasCorrection,
      reconstruction: calibrated.reconstruction,
      wallTimeMs: Date.now() - started,
    };
  } finally {
    images.dispose();
  }
}
