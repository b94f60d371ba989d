import { activationQuantizers, calibrateActivationRanges } from '@qimera/quantizers';
import { SeededRandom } from '@qimera/superposition';
import { randomNormal, type Tensor, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** Height, width and channels of a model's input images. */
export interface ImageShape {
  height: number;
  width: number;
  channels: number;
}

/**
 * The naive baseline's calibration: activation ranges observed on `batches` batches of
 * N(0, 1) images, then frozen. An abort stops it after the first batch, so the student
 * always has ranges.
 * @returns the number of batches observed.
 */
export async function calibrateOnNoise(
  student: LayersModel,
  shape: ImageShape,
  options: { batches: number; batchSize: number; seed: number; signal?: AbortSignal },
): Promise<number> {
  const rng = new SeededRandom(options.seed);
  const made: Tensor[] = [];
  function* batches(): Generator<Tensor> {
    for (let i = 0; i < options.batches && !(i > 0 && options.signal?.aborted); i++) {
      const batch = noise(shape, options.batchSize, rng.nextSeed());
      made.push(batch);
      yield batch;
    }
  }
  try {
    return await calibrateActivationRanges(student, batches());
  } finally {
    for (const batch of made) batch.dispose();
  }
}

/**
 * Calibrates on one batch of N(0, 1) images the activation ranges that never observed
 * a batch (a run aborted before its ranges were calibrated), leaving the others as they
 * are, so the student predicts and exports.
 * @returns the names of the quantizers calibrated.
 */
export function calibrateUnobservedRanges(student: LayersModel, shape: ImageShape, seed: number): string[] {
  const unobserved = activationQuantizers(student).filter((q) => q.rangeState().observedBatches === 0);
  if (unobserved.length === 0) return [];
  const calibrating = activationQuantizers(student).filter((q) => !q.frozen && !unobserved.includes(q));
  // Only the unobserved ranges move: the ones still calibrating are held for this pass.
  for (const q of calibrating) q.freeze();
  for (const q of unobserved) q.unfreeze();
  try {
    tidy(() => {
      student.apply(noise(shape, NOISE_BATCH, seed));
    });
  } finally {
    for (const q of unobserved) q.freeze();
    for (const q of calibrating) q.unfreeze();
  }
  return unobserved.map((q) => q.name);
}

// Images in the fallback calibration batch.
const NOISE_BATCH = 32;

function noise(shape: ImageShape, count: number, seed: number): Tensor {
  return randomNormal([count, shape.height, shape.width, shape.channels], 0, 1, 'float32', seed);
}
