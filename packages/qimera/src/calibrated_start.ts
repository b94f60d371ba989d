import { synthesizeImages } from '@qimera/distill';
import {
  type BiasCorrectionReport,
  calibrateActivationRanges,
  correctBias,
  splitIntoBatches,
} from '@qimera/quantizers';
import { SeededRandom, sampleLabels } from '@qimera/superposition';
import { dispose } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** Images per synthesis batch and per calibration pass unless fewer are asked for (memory). */
export const CALIBRATION_BATCH_SIZE = 64;

/** Options of {@link calibrateStart}. */
export interface CalibratedStartOptions {
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
  /** Default 1. */
  seed?: number;
  signal?: AbortSignal;
}

/** What {@link calibrateStart} did. */
export interface CalibratedStartReport {
  images: number;
  steps: number;
  biasCorrection: BiasCorrectionReport | null;
  wallTimeMs: number;
}

/**
 * The no-training start: synthesizes images the teacher finds typical (one class each,
 * BN statistics matched), corrects the biases the kernel quantization shifted, then
 * calibrates the student's activation ranges on those images and freezes them. The
 * student's own settings decide how ranges are chosen; `quantizeDataFree` builds it
 * with error-minimising ones (`weightRange: 'mse'`, `activationObserver: 'mse'`).
 */
export async function calibrateStart(
  teacher: LayersModel,
  student: LayersModel,
  options: CalibratedStartOptions = {},
): Promise<CalibratedStartReport> {
  const started = Date.now();
  const count = options.images ?? 64;
  const steps = options.steps ?? 20;
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(`calibrateStart: images must be a positive integer, got ${count}`);
  }
  const rng = new SeededRandom(options.seed ?? 1);
  const { targets } = sampleLabels(rng, {
    batchSize: count,
    numClasses: teacher.outputs[0]?.shape[1] as number,
    superposeProbability: 0,
    slots: 1,
  });
  const forwardBatch = options.forwardBatchSize ?? CALIBRATION_BATCH_SIZE;
  const images = await synthesizeImages(teacher, {
    targets,
    steps,
    batchSize: options.synthesisBatchSize ?? CALIBRATION_BATCH_SIZE,
    seed: rng.nextSeed(),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const batches = splitIntoBatches(images, forwardBatch);
  try {
    const biasCorrection =
      (options.biasCorrection ?? true)
        ? correctBias(student, options.reference ?? teacher, images, forwardBatch)
        : null;
    await calibrateActivationRanges(student, batches);
    return { images: count, steps, biasCorrection, wallTimeMs: Date.now() - started };
  } finally {
    dispose([images, ...batches]);
  }
}
