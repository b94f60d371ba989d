import { SeededRandom } from '@qimera/superposition';
import {
  add,
  clipByValue,
  concat,
  dispose,
  mul,
  type Scalar,
  type Tensor,
  tensor2d,
  tidy,
  train,
  type Variable,
  variable,
} from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { moveImages } from './image_moves.js';
import { batchNormStatisticsLoss, softCrossEntropy, totalVariation } from './losses.js';
import { checkInputRange, checkJitter, checkLossWeight, checkPositive, checkStartingNoise } from './option_checks.js';
import { type StartingNoise, startingPixels } from './starting_noise.js';
import { TeacherTaps } from './taps.js';

/** Longest time synthesis computes before it lets other tasks of its thread run. */
const YIELD_EVERY_MS = 50;

/** Images optimised together unless another batch size is asked for. */
export const DEFAULT_SYNTHESIS_BATCH = 64;

/** Options of {@link synthesizeImages}. */
export interface SynthesisOptions {
  /** Soft targets, one row of `classes` values per image: the image count is `targets.length / classes`. */
  targets: Float32Array;
  /** Images optimised together; their batch statistics are matched to the teacher's BNs. Default 64. */
  batchSize?: number;
  /** Adam steps per batch. Default 200. */
  steps?: number;
  /** Adam learning rate on the pixels (in the model's input units). Default 0.1. */
  learningRate?: number;
  /** Weight of the BN-statistics loss next to the cross-entropy to the targets. Default 1. */
  bnsWeight?: number;
  /**
   * Weight of a smoothness prior, the squared total variation of the batch as the
   * teacher sees it (see `totalVariation`; DeepInversion's). Without it, pixel noise the
   * teacher's first layer does not respond to stays from the start: on CIFAR-10 with
   * inputs in [-2, 2] and 100 steps, neighbouring pixels differ 12 times more (in mean
   * square) than in real images; weight 10 brings that to 1.7 times and made 10
   * minutes of learned rounding on the images better (docs/benchmarks.md). It is in the
   * squared input units: images in [0, 1] need about 16 times the weight of images in
   * [-2, 2]. Default 0 (none).
   */
  tvWeight?: number;
  /**
   * The range every input value lies in for the teacher (its pixel range after its own
   * normalisation, e.g. [0, 1] or [-1, 1]): pixels start in it (see `startingNoise`) and
   * are clipped to it after every step. Default: unbounded.
   */
  inputRange?: readonly [number, number];
  /**
   * The noise the pixels start from. `'white'`: each value on its own, uniform in
   * `inputRange` (N(0, 1) without one). `'multiScale'`: Gaussian noise with equal power
   * in every octave, from one value per image and channel to one per pixel (natural
   * images' 1/f spectrum; see `multiScaleNoise`), centred in `inputRange` with a quarter
   * of its width as its scale and clipped to it (N(0, 1)'s centre and scale without
   * one). The BN statistics barely move what sets images apart at large scales once
   * synthesis has begun: from white noise, CIFAR-10 images synthesized for ResNet-20
   * differ in their mean value 7 times less than real ones (docs/benchmarks.md).
   * Default `'white'`.
   */
  startingNoise?: StartingNoise;
  /**
   * Random translation of the batch before each step's teacher forward, up to this many
   * pixels each way in height and width, wrapping around (DeepInversion's jitter): an
   * image must score and match the statistics wherever it sits, which keeps it from
   * fitting the teacher pixel by pixel. With an input range, flips and 100 steps, it
   * made synthesized images improve learned rounding instead of misleading it, on a
   * CIFAR-10 MobileNet-style teacher (docs/benchmarks.md). Default 0 (none).
   */
  jitter?: number;
  /**
   * Mirror the batch left to right on a random half of the steps (DeepInversion). Only
   * for teachers trained on mirrored images (natural photos, not digits). Default false.
   */
  flip?: boolean;
  /**
   * Seed of the starting noise, the jitter and the flips. The batch that starts at image
   * `i` uses `seed + i`, so a call's images are those of separate calls on each of its
   * batches with those seeds (what `SynthesisPool` runs on two threads). Default 1.
   */
  seed?: number;
  /** Stops between steps; the images optimised so far are returned. */
  signal?: AbortSignal;
}

/** How images are synthesized apart from which, how many and for how long: one style for every image set of a run. */
export type SynthesisStyle = Pick<
  SynthesisOptions,
  'inputRange' | 'bnsWeight' | 'tvWeight' | 'startingNoise' | 'jitter' | 'flip'
>;

/** The style options `options` gives (those not undefined), to pass on to {@link synthesizeImages}. */
export function synthesisStyle(options: SynthesisStyle): SynthesisStyle {
  return {
    ...(options.inputRange ? { inputRange: options.inputRange } : {}),
    ...(options.bnsWeight !== undefined ? { bnsWeight: options.bnsWeight } : {}),
    ...(options.tvWeight !== undefined ? { tvWeight: options.tvWeight } : {}),
    ...(options.startingNoise !== undefined ? { startingNoise: options.startingNoise } : {}),
    ...(options.jitter !== undefined ? { jitter: options.jitter } : {}),
    ...(options.flip !== undefined ? { flip: options.flip } : {}),
  };
}

/**
 * Images the teacher finds typical, optimised directly (no generator), as in ZeroQ and
 * Genie: pixels start as noise (`startingNoise`) and Adam minimises
 * `CE_soft(teacher(x), targets) + bnsWeight · L_BNS + tvWeight · TV`, so every
 * BatchNorm input has the running mean and variance the teacher was trained with and
 * each image scores its target. Superposed targets (two classes mixed) give boundary
 * samples. Cheap next to training a generator, and independent of it: used to calibrate
 * ranges before training and as the fixed image set of the fidelity guard.
 *
 * @returns the images `[count, ...inputShape]` (the caller disposes them).
 * @throws if the teacher has no BatchNormalization layer or the targets do not fit it.
 */
export async function synthesizeImages(teacher: LayersModel, options: SynthesisOptions): Promise<Tensor> {
  const shape = teacher.inputs[0]?.shape.slice(1) ?? [];
  const classes = teacher.outputs[0]?.shape[1];
  if (shape.some((d) => d == null) || typeof classes !== 'number') {
    throw new Error(`synthesizeImages: teacher '${teacher.name}' needs a known input shape and class count`);
  }
  const batchSize = options.batchSize ?? DEFAULT_SYNTHESIS_BATCH;
  const steps = options.steps ?? 200;
  for (const [name, value] of [
    ['batchSize', batchSize],
    ['steps', steps],
  ] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new RangeError(`synthesizeImages: ${name} must be a positive integer, got ${value}`);
    }
  }
  const jitter = checkJitter(
    options.jitter ?? 0,
    Math.min(...(shape as number[]).slice(0, 2)),
    'synthesizeImages: jitter',
  );
  const count = options.targets.length / classes;
  if (!Number.isInteger(count) || count < 1) {
    throw new RangeError(
      `synthesizeImages: targets must hold whole rows of ${classes} classes, got ${options.targets.length} values`,
    );
  }
  const range = options.inputRange && checkInputRange(options.inputRange, 'synthesizeImages: inputRange');
  const tvWeight = checkLossWeight(options.tvWeight ?? 0, 'synthesizeImages: tvWeight');
  const bnsWeight = checkLossWeight(options.bnsWeight ?? 1, 'synthesizeImages: bnsWeight');
  const learningRate = checkPositive(options.learningRate ?? 0.1, 'synthesizeImages: learningRate');
  const startingNoise = checkStartingNoise(options.startingNoise ?? 'white', 'synthesizeImages: startingNoise');
  const taps = new TeacherTaps(teacher);
  if (taps.batchNorms.length === 0) {
    taps.dispose();
    throw new Error(`synthesizeImages: teacher '${teacher.name}' has no BatchNormalization layer to match`);
  }
  const seed = options.seed ?? 1;
  const parts: Tensor[] = [];
  let yielded = Date.now();
  try {
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      const targets = tensor2d(options.targets.subarray(start * classes, (start + n) * classes), [n, classes]);
      const noise = startingPixels(
        startingNoise,
        [n, ...shape] as [number, number, number, number],
        range,
        seed + start,
      );
      // Each batch its own moves, as its own noise: a batch's images depend on its seed alone.
      const moves = new SeededRandom(seed + start);
      const pixels: Variable = variable(noise);
      noise.dispose();
      const optimizer = train.adam(learningRate);
      try {
        for (let step = 0; step < steps && !options.signal?.aborted; step++) {
          const shiftY = jitter > 0 ? moves.int(2 * jitter + 1) - jitter : 0;
          const shiftX = jitter > 0 ? moves.int(2 * jitter + 1) - jitter : 0;
          const mirror = options.flip === true && moves.uniform() < 0.5;
          const loss = optimizer.minimize(
            () => {
              const moved = moveImages(pixels, shiftY, shiftX, mirror);
              const { logits, stats } = taps.forward(moved);
              const fit = add(
                softCrossEntropy(logits, targets),
                mul(batchNormStatisticsLoss(stats, taps.batchNorms), bnsWeight),
              ) as Scalar;
              return tvWeight > 0 ? (add(fit, mul(totalVariation(moved), tvWeight)) as Scalar) : fit;
            },
            false,
            [pixels],
          );
          loss?.dispose();
          if (range) tidy(() => pixels.assign(clipByValue(pixels, range[0], range[1])));
          // Let abort signals, timers and worker messages in (a SynthesisPool's other thread waits on them).
          if (Date.now() - yielded >= YIELD_EVERY_MS) {
            await new Promise((resolveTick) => setTimeout(resolveTick, 0));
            yielded = Date.now();
          }
        }
        parts.push(pixels.clone());
      } finally {
        dispose([targets, pixels]);
        optimizer.dispose();
      }
    }
    return tidy(() => (parts.length === 1 ? (parts[0] as Tensor).clone() : concat(parts)));
  } finally {
    dispose(parts);
    taps.dispose();
  }
}
