import {
  type BiasCorrectionReport,
  calibrateActivationRanges,
  correctBias,
  type QuantizeModelConfig,
  type ReconstructionReport,
  type RoundingReconstructionOptions,
  reconstructRounding,
  splitIntoBatches,
} from '@qimera/quantizers';
import { dispose, slice, type Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** Images per calibration and bias-correction pass unless fewer are asked for (memory). */
export const CALIBRATION_BATCH_SIZE = 64;
/** Calibration images unless another count is asked for. */
export const CALIBRATION_IMAGES = 64;

/**
 * The error-minimising range choices of a student that is calibrated on images rather
 * than trained: `quantizeDataFree` builds its 'mse', 'adaround' and calibrated-start
 * students with them; pass them to `quantizeModel` before {@link calibrateOnImages}.
 */
export const CALIBRATED_RANGES = {
  weightRange: 'mse',
  activationObserver: 'mse',
} as const satisfies Partial<QuantizeModelConfig>;

/** Options of {@link calibrateOnImages}. */
export interface ImageCalibrationOptions {
  /** The first this many images correct the biases and calibrate the activation ranges. Default 64 (all, when fewer). */
  calibrationImages?: number;
  /** Images per calibration and bias-correction pass; fewer use less memory. Default 64. */
  forwardBatchSize?: number;
  /** Empirical bias correction (see `correctBias`). Default true. */
  biasCorrection?: boolean;
  /** Learned rounding on all the images after calibration (see `reconstructRounding`). Default: none. */
  reconstruction?: RoundingReconstructionOptions;
  /**
   * When learned rounding must be done, as a `Date.now()` time: its time budget is what
   * is left after calibration, at least a second (see `timeBudgetMs` of
   * `reconstructRounding`). Default: none.
   */
  deadline?: number;
  /** Seed of learned rounding's drop masks unless `reconstruction.seed` is given. Default 1. */
  seed?: number;
  /** Stops learned rounding after its current step: the student is usable either way. */
  signal?: AbortSignal;
}

/** What {@link calibrateOnImages} did. */
export interface ImageCalibrationReport {
  /** Images the biases and activation ranges were calibrated on. */
  calibrationImages: number;
  /** Images learned rounding used; null without it. */
  reconstructionImages: number | null;
  biasCorrection: BiasCorrectionReport | null;
  /** What learned rounding did, when it ran. */
  reconstruction: ReconstructionReport | null;
}

/**
 * Calibrates a quantized student on images, synthesized or real: corrects the biases
 * that kernel quantization shifted and calibrates (then freezes) the activation ranges
 * on the first `calibrationImages`, then, with `reconstruction`, learns each kernel's
 * rounding on all of them. What `calibrateStart` does after synthesizing, for callers
 * that hold images (a few unlabelled ones are enough; labels are never used).
 *
 * @param reference the float model whose layers the student's are twins of: the teacher,
 *   or the BN-folded teacher when the student was folded.
 * @param images `[n, ...inputShape]` in the model's input units; the caller keeps and disposes them.
 */
export async function calibrateOnImages(
  reference: LayersModel,
  student: LayersModel,
  images: Tensor,
  options: ImageCalibrationOptions & { reconstruction: RoundingReconstructionOptions },
): Promise<ImageCalibrationReport & { reconstructionImages: number; reconstruction: ReconstructionReport }>;
export async function calibrateOnImages(
  reference: LayersModel,
  student: LayersModel,
  images: Tensor,
  options?: ImageCalibrationOptions,
): Promise<ImageCalibrationReport>;
export async function calibrateOnImages(
  reference: LayersModel,
  student: LayersModel,
  images: Tensor,
  options: ImageCalibrationOptions = {},
): Promise<ImageCalibrationReport> {
  const available = images.shape[0] ?? 0;
  if (available < 1) throw new RangeError('calibrateOnImages: images must hold at least one image');
  const wanted = options.calibrationImages ?? CALIBRATION_IMAGES;
  if (!(Number.isInteger(wanted) && wanted >= 1)) {
    throw new RangeError(`calibrateOnImages: calibrationImages must be a positive integer, got ${wanted}`);
  }
  const count = Math.min(wanted, available);
  const forwardBatch = options.forwardBatchSize ?? CALIBRATION_BATCH_SIZE;
  const calibration = count === available ? images : slice(images, 0, count);
  const batches = splitIntoBatches(calibration, forwardBatch);
  try {
    const biasCorrection =
      (options.biasCorrection ?? true) ? correctBias(student, reference, calibration, forwardBatch) : null;
    await calibrateActivationRanges(student, batches);
    const reconstruction = options.reconstruction
      ? await reconstructRounding(student, reference, images, {
          seed: options.seed ?? 1,
          ...options.reconstruction,
          // At least a second: a spent budget still learns the first layers' rounding.
          ...(options.deadline !== undefined ? { timeBudgetMs: Math.max(1000, options.deadline - Date.now()) } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        })
      : null;
    return {
      calibrationImages: count,
      reconstructionImages: reconstruction ? available : null,
      biasCorrection,
      reconstruction,
    };
  } finally {
    dispose(calibration === images ? batches : [calibration, ...batches]);
  }
}
