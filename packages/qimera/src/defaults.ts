import type { StudentLrSchedule } from '@qimera/distill';

/**
 * Named training schedules of {@link quantizeDataFree}.
 *
 * - `'paper'` (default): QIMERA.md's schedule, built for 80,000 iterations: batch 200
 *   (16 for ImageNet-scale models), 4 (50) warm-up epochs of 200 iterations in which
 *   the student only calibrates its activation ranges, then the student at lr 1e-4
 *   (1e-6), step decay at epochs 100, 200 and 300. On a 2-core CPU its warm-up alone
 *   takes over two hours for a CIFAR ResNet-20.
 * - `'short'`: for budgets of minutes to an hour on a CPU (hundreds to a few thousand
 *   iterations): batch 64, one warm-up epoch of 50 iterations, plain class batches for
 *   the first 200 iterations before superposed ones join. Chosen by measurement on
 *   ResNet-20 / CIFAR-10 (docs/benchmarks.md); ImageNet-scale models keep their batch
 *   size and student rate, which were not measured under it.
 */
export type SchedulePreset = 'paper' | 'short';
/** Every {@link SchedulePreset}. */
export const SCHEDULE_PRESETS: readonly SchedulePreset[] = ['paper', 'short'];

/** Settings QIMERA.md gives per kind of model (CIFAR-size or ImageNet-size) and preset. */
export interface MethodDefaults {
  /** Classes per superposed sample (K). */
  slots: number;
  latentDim: number;
  batchSize: number;
  iterationsPerEpoch: number;
  warmupEpochs: number;
  studentLearningRate: number;
  studentLrSchedule: StudentLrSchedule;
  /** Iterations of plain class batches before superposition starts. */
  superposeAfter: number;
  classConditionalGenerator: boolean;
}

/**
 * Defaults by the model's size and the schedule preset: K = 2 for up to 10 classes, 10
 * for up to 100, 500 for more (capped at the class count); ImageNet-scale models (more
 * than 100 classes or images of 64 pixels and more) get latent 512, batch 16, 50
 * warm-up epochs, student lr 1e-6 and the class-conditional generator, the rest latent
 * 64, batch 200, 4 warm-up epochs and lr 1e-4. The `'short'` preset then changes the
 * schedule (see {@link SchedulePreset}).
 */
export function methodDefaults(
  numClasses: number,
  imageSize: number,
  preset: SchedulePreset = 'paper',
): MethodDefaults {
  if (!SCHEDULE_PRESETS.includes(preset)) {
    const allowed = SCHEDULE_PRESETS.map((p) => `'${p}'`).join(' or ');
    throw new RangeError(`preset must be ${allowed}, got ${JSON.stringify(preset)}`);
  }
  const slots = numClasses <= 10 ? 2 : numClasses <= 100 ? 10 : Math.min(500, numClasses);
  const large = numClasses > 100 || imageSize >= 64;
  const paper: MethodDefaults = {
    slots,
    latentDim: large ? 512 : 64,
    batchSize: large ? 16 : 200,
    iterationsPerEpoch: 200,
    warmupEpochs: large ? 50 : 4,
    studentLearningRate: large ? 1e-6 : 1e-4,
    studentLrSchedule: 'step',
    superposeAfter: 0,
    classConditionalGenerator: large,
  };
  if (preset === 'paper') return paper;
  return {
    ...paper,
    batchSize: large ? paper.batchSize : 64,
    iterationsPerEpoch: 50,
    warmupEpochs: 1,
    superposeAfter: 200,
  };
}

/** The largest side the generator works at by default; larger images are generated smaller and resized. */
export const MAX_GENERATION_SIDE = 64;

/**
 * The size the generator works at for a model's `height` x `width` images: the image
 * size itself up to {@link MAX_GENERATION_SIDE} pixels a side, otherwise the size
 * divided by the smallest integer factor that brings both sides under it; each side
 * rounded down to a multiple of 4 (at least 4). 224x224 gives 56x56 (3.4M generator
 * weights instead of 41M with Qimera's mapping, 14M instead of 207M with a 512-long
 * latent; costs in docs/performance.md), 299x299 56x56, 30x30 28x28.
 */
export function defaultGenerationSize(height: number, width: number): [number, number] {
  const factor = Math.ceil(Math.max(height, width) / MAX_GENERATION_SIDE);
  const side = (size: number) => Math.max(4, 4 * Math.floor(size / factor / 4));
  return [side(height), side(width)];
}
