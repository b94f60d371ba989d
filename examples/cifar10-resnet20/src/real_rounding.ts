// The real-image reference of learned rounding: what 'adaround' reaches when its images
// are CIFAR-10 training images instead of synthesized ones.
import { tensor4d } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  CALIBRATED_RANGES,
  calibrateOnImages,
  foldBatchNorm,
  type ImageBatch,
  type QuantizeModelConfig,
  quantizeModel,
  RECONSTRUCTION_IMAGES,
  type ReconstructionReport,
  type RoundingReconstructionOptions,
} from 'qimera';

/** What {@link roundOnRealImages} did, in the fields run.ts reports for 'adaround'. */
export interface RealRoundingReport {
  iterations: 0;
  wallTimeMs: number;
  fidelity?: undefined;
  start: { wallTimeMs: number; reconstruction: ReconstructionReport; reconstructionImages: number };
}

/**
 * The calibrated start and learned rounding as `quantizeDataFree`'s 'adaround' builds them
 * (error-minimising weight and activation ranges, bias correction, then
 * `reconstructRounding`), on the first images of `train`: the first `calibrationImages`
 * calibrate, all `images` are learned on, in what is left of `minutes` after calibration.
 * A folded student is measured against the folded teacher, as there.
 */
export async function roundOnRealImages(
  teacher: LayersModel,
  train: ImageBatch,
  options: {
    weightBits: number;
    activationBits: number;
    quantization: Pick<QuantizeModelConfig, 'foldBatchNorm' | 'firstLastBits'>;
    minutes?: number;
    calibrationImages?: number;
    images?: number;
    reconstruction: RoundingReconstructionOptions;
  },
): Promise<{ student: LayersModel; report: RealRoundingReport }> {
  const started = Date.now();
  const count = Math.min(train.count, options.images ?? RECONSTRUCTION_IMAGES);
  const [, height, width, channels] = train.shape;
  const shape: [number, number, number, number] = [count, height, width, channels];
  const images = tensor4d(train.images.subarray(0, count * height * width * channels), shape);
  let reference = teacher;
  try {
    if (options.quantization.foldBatchNorm) reference = await foldBatchNorm(teacher);
    const student = await quantizeModel(teacher, {
      ...CALIBRATED_RANGES,
      ...options.quantization,
      weightBits: options.weightBits,
      activationBits: options.activationBits,
    });
    let reconstruction: ReconstructionReport;
    try {
      const calibrated = await calibrateOnImages(reference, student, images, {
        ...(options.calibrationImages !== undefined ? { calibrationImages: options.calibrationImages } : {}),
        reconstruction: options.reconstruction,
        ...(options.minutes !== undefined ? { deadline: started + options.minutes * 60_000 } : {}),
      });
      reconstruction = calibrated.reconstruction;
    } catch (error) {
      student.dispose();
      throw error;
    }
    const wallTimeMs = Date.now() - started;
    return {
      student,
      report: { iterations: 0, wallTimeMs, start: { wallTimeMs, reconstruction, reconstructionImages: count } },
    };
  } finally {
    images.dispose();
    if (reference !== teacher) reference.dispose();
  }
}
