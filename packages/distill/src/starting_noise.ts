import { add, clipByValue, image, randomNormal, randomUniform, type Tensor4D, tidy } from '@tensorflow/tfjs-core';

/** Where the pixels of {@link synthesizeImages} start. */
export const STARTING_NOISES = ['white', 'multiScale'] as const;
/** See {@link SynthesisOptions.startingNoise}. */
export type StartingNoise = (typeof STARTING_NOISES)[number];

// Far apart so that one batch's octave seeds never meet another batch's seed
// (synthesizeImages seeds the batch that starts at image i with seed + i).
const OCTAVE_SEED_STRIDE = 1_000_003;

/** The centre and spread of a batch's starting noise. */
export interface NoiseLevel {
  center: number;
  std: number;
}

/**
 * Gaussian noise with equal power in every octave, the 1/f amplitude spectrum of natural
 * images: the sum of independent fields of `level.std² / octaves` variance, one value per
 * image and channel, then 2x2, 4x4, ... per image upsampled bilinearly to `[h, w]`, and one
 * value per pixel, around `level.center`. Bilinear upsampling lowers the variance between
 * a coarse field's points, so the total variance is somewhat below `level.std²`. Each
 * image starts with its own brightness, colour and layout, which the BN statistics of a
 * teacher barely move once synthesis has begun.
 *
 * @param shape `[n, h, w, channels]`.
 * @param seed one seed per call; each octave draws from its own seed derived from it.
 */
export function multiScaleNoise(shape: [number, number, number, number], level: NoiseLevel, seed: number): Tensor4D {
  const [n, h, w, channels] = shape;
  const sides: number[] = [];
  for (let side = 1; side < Math.max(h, w); side *= 2) sides.push(side);
  const amplitude = level.std / Math.sqrt(sides.length + 1);
  return tidy(() =>
    sides.reduce(
      (sum, side, k) => {
        const coarse = randomNormal(
          [n, Math.min(side, h), Math.min(side, w), channels],
          0,
          amplitude,
          'float32',
          seed + OCTAVE_SEED_STRIDE * (k + 1),
        ) as Tensor4D;
        return add(sum, image.resizeBilinear(coarse, [h, w], true)) as Tensor4D;
      },
      randomNormal(shape, level.center, amplitude, 'float32', seed) as Tensor4D,
    ),
  );
}

/**
 * The pixels a synthesis batch starts from: `noise` of shape `[n, h, w, channels]`,
 * within `range` when one is given (see {@link SynthesisOptions.startingNoise}).
 */
export function startingPixels(
  noise: StartingNoise,
  shape: [number, number, number, number],
  range: readonly [number, number] | undefined,
  seed: number,
): Tensor4D {
  if (noise === 'white') {
    return (
      range ? randomUniform(shape, range[0], range[1], 'float32', seed) : randomNormal(shape, 0, 1, 'float32', seed)
    ) as Tensor4D;
  }
  if (!range) return multiScaleNoise(shape, { center: 0, std: 1 }, seed);
  const [low, high] = range;
  return tidy(() =>
    clipByValue(multiScaleNoise(shape, { center: (low + high) / 2, std: (high - low) / 4 }, seed), low, high),
  );
}
