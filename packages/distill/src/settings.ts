import type { ClassEmbedding, EmbeddingNormalization } from '@qimera/superposition';
import type { LayersModel } from '@tensorflow/tfjs-layers';
// Node's worker threads, or their absence (browsers).
import { workerThreadsAvailable } from '#worker-thread';
import type { CheckpointOptions, DistillCheckpoint } from './checkpoint.js';
import type { ImageSource } from './image_source.js';
import type { KdReduction } from './losses.js';
import { checkLossWeight, checkPositive } from './option_checks.js';
import type { DistillProgress } from './progress.js';

/** How the student's learning rate decays; see {@link DistillOptions.studentLrSchedule}. */
export type StudentLrSchedule = 'step' | 'cosine';
/** Every {@link StudentLrSchedule}. */
export const STUDENT_LR_SCHEDULES: readonly StudentLrSchedule[] = ['step', 'cosine'];

/** Everything the alternating trainer needs; defaults are QIMERA.md's CIFAR settings. */
export interface DistillOptions {
  teacher: LayersModel;
  /** The quantized student (see `quantizeModel`), activation quantizers unfrozen. */
  student: LayersModel;
  /** The generator (required unless `images` is given). */
  generator?: LayersModel;
  /** The class embedding table (required unless `images` is given). */
  embedding?: ClassEmbedding;
  /**
   * Distil on these images instead of generated ones: no generator, no embedding, the
   * same student schedule (warm-up calibration, then student steps). The data-free
   * method never uses it; it is for references with real data (what the generator
   * costs) and for users who do have some images.
   */
  images?: ImageSource;
  /** The disentanglement mapping; null or absent trains without it. */
  mapping?: LayersModel | null;
  /** Total iterations to run (the budget; with {@link timeBudgetMs}, at most this many). */
  iterations: number;
  /**
   * A wall-clock budget. The run stops when it is spent, and the schedule is laid over
   * it instead of over iterations: warm-up for the first {@link warmupFraction} of the
   * time, plain class batches until {@link superposeFraction}, and with the 'cosine'
   * student schedule the rate reaches 0 when the time does. (`warmupEpochs`,
   * `superposeAfter` and the milestones are then not used.) Runs with a time budget do
   * not repeat exactly: how many iterations fit depends on the machine.
   */
  timeBudgetMs?: number;
  /** With {@link timeBudgetMs}: share of the time spent in warm-up. Default 0.05. */
  warmupFraction?: number;
  /** With {@link timeBudgetMs}: share of the time with plain class batches only. Default 0.2. */
  superposeFraction?: number;
  /** Default 200. */
  iterationsPerEpoch?: number;
  /** Epochs in which the student only calibrates its activation ranges. Default 4. */
  warmupEpochs?: number;
  /** Default 200. */
  batchSize?: number;
  /**
   * Images per forward and backward pass in each replica: a larger share of the batch
   * runs as several passes whose gradients are summed (gradient accumulation), so large
   * images fit memory at the batch size asked for. BatchNorm statistics (the generator's
   * and the BNS loss) then see each pass's images, as with `workers: 2`; the student's
   * gradients are those of the whole batch. Default: the whole share in one pass.
   */
  microBatchSize?: number;
  /** Probability of a superposed batch. Default 0.4 (0: GDFQ). */
  superposeProbability?: number;
  /**
   * Iterations of plain (one class per sample) batches before superposed ones may be
   * drawn, so the generator first learns the classes themselves. Default 0.
   */
  superposeAfter?: number;
  /** Classes per superposed sample (K). Default 2. */
  slots?: number;
  /** Default 1. */
  noiseScale?: number;
  /** Default 'official'. */
  embeddingNormalization?: EmbeddingNormalization;
  /** Weight of the BN-statistics loss in L_G. Default 0.1. */
  bnsWeight?: number;
  /** KD temperature. Default 20. */
  temperature?: number;
  /** KD weight. Default 1. */
  kdAlpha?: number;
  /** Default 'mean' (as the official code). */
  kdReduction?: KdReduction;
  /** Adam. Default 1e-3. */
  generatorLearningRate?: number;
  /** Adam betas. Default [0.5, 0.999]. */
  generatorBetas?: [number, number];
  /** SGD. Default 1e-4. */
  studentLearningRate?: number;
  /** Default 0.9. */
  studentMomentum?: number;
  /** Default true. */
  nesterov?: boolean;
  /** L2 weight decay of every student weight (PyTorch style). Default 1e-4. */
  weightDecay?: number;
  /**
   * How the student's learning rate changes. `'step'` (default, the paper): multiplied
   * by `lrGamma` at each of `lrMilestones`. `'cosine'`: from `studentLearningRate` at the
   * first student step (after warm-up) down to 0 at `iterations`, cosine shaped; meant
   * for short budgets, where the paper's milestones (epoch 100 and later) are never
   * reached. The generator's rate follows the milestones either way.
   */
  studentLrSchedule?: StudentLrSchedule;
  /** Epochs at which the learning rates are multiplied by `lrGamma`. Default [100, 200, 300]. */
  lrMilestones?: number[];
  /** Default 0.1. */
  lrGamma?: number;
  /** Seed of labels and noise. Default 1. */
  seed?: number;
  /**
   * Threads to train on: 1 (default) or 2. With 2, a worker thread holds a replica of
   * every model and each iteration's batch is split in halves (data parallel): both
   * compute gradients on their half, the averages are applied on both, so the replicas
   * stay identical. BatchNorm statistics (generator BNs, the BNS loss) and the
   * 'official' embedding normaliser then see half batches, as multi-GPU training
   * without synchronised BN does. Activation ranges calibrate on the main thread's
   * half and are copied to the worker when they freeze. Node.js only (worker_threads);
   * elsewhere `workers: 2` is refused, see {@link canUseWorkerThreads}.
   */
  workers?: number;
  /** Stops cleanly between iterations; the student is still returned usable. */
  signal?: AbortSignal;
  /** Hands out the whole training state every so often and when the run ends. */
  checkpoint?: CheckpointOptions;
  /**
   * Continues from a checkpoint: the models given must be built with the options of
   * the saved run (their weights are replaced); the iteration, the random source, the
   * optimizers, frozen ranges and the training time spent continue from it.
   */
  resumeFrom?: DistillCheckpoint;
  /**
   * Called after every iteration with the student, e.g. to evaluate it at checkpoints
   * (its ranges are frozen once the phase is 'distill'; in 'warmup' they still
   * calibrate from every forward, so evaluate inside `withFrozenActivationRanges` from
   * `@qimera/quantizers`). Time spent here counts in `elapsedMs`.
   */
  onProgress?: (progress: DistillProgress, student: LayersModel) => void;
}

/** How latents are made from the embedding (`noiseScale`, `embeddingNormalization`), defaults applied. */
export function latentSettings(options: Pick<DistillOptions, 'noiseScale' | 'embeddingNormalization'>) {
  return {
    noiseScale: options.noiseScale ?? 1,
    embeddingNormalization: options.embeddingNormalization ?? ('official' as EmbeddingNormalization),
  };
}

/** Every trainer setting with its default applied; validated. */
export function resolveSettings(options: DistillOptions) {
  const settings = {
    iterations: options.iterations,
    iterationsPerEpoch: options.iterationsPerEpoch ?? 200,
    warmupEpochs: options.warmupEpochs ?? 4,
    batchSize: options.batchSize ?? 200,
    microBatchSize: options.microBatchSize ?? null,
    numClasses: options.embedding?.numClasses ?? outputClasses(options.teacher),
    superposeProbability: options.superposeProbability ?? 0.4,
    superposeAfter: options.superposeAfter ?? 0,
    slots: options.slots ?? 2,
    ...latentSettings(options),
    bnsWeight: options.bnsWeight ?? 0.1,
    temperature: options.temperature ?? 20,
    kdAlpha: options.kdAlpha ?? 1,
    kdReduction: options.kdReduction ?? ('mean' as KdReduction),
    generatorLearningRate: options.generatorLearningRate ?? 1e-3,
    generatorBetas: options.generatorBetas ?? ([0.5, 0.999] as [number, number]),
    studentLearningRate: options.studentLearningRate ?? 1e-4,
    studentMomentum: options.studentMomentum ?? 0.9,
    nesterov: options.nesterov ?? true,
    weightDecay: options.weightDecay ?? 1e-4,
    studentLrSchedule: options.studentLrSchedule ?? ('step' as StudentLrSchedule),
    lrMilestones: options.lrMilestones ?? [100, 200, 300],
    lrGamma: options.lrGamma ?? 0.1,
    seed: options.seed ?? 1,
    workers: options.workers ?? 1,
    timeBudgetMs: options.timeBudgetMs ?? null,
    warmupFraction: options.warmupFraction ?? 0.05,
    superposeFraction: options.superposeFraction ?? 0.2,
  };
  const positive: (keyof typeof settings)[] = ['iterations', 'iterationsPerEpoch', 'batchSize', 'slots'];
  for (const key of positive) {
    const value = settings[key] as number;
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`distill: ${key} must be a positive integer, got ${value}`);
  }
  const micro = settings.microBatchSize;
  if (micro !== null && !(Number.isInteger(micro) && micro >= 1)) {
    throw new RangeError(`distill: microBatchSize must be a positive integer, got ${micro}`);
  }
  if (!Number.isInteger(settings.warmupEpochs) || settings.warmupEpochs < 0) {
    throw new RangeError(`distill: warmupEpochs must be a non-negative integer, got ${settings.warmupEpochs}`);
  }
  if (!Number.isInteger(settings.superposeAfter) || settings.superposeAfter < 0) {
    throw new RangeError(`distill: superposeAfter must be a non-negative integer, got ${settings.superposeAfter}`);
  }
  if (!STUDENT_LR_SCHEDULES.includes(settings.studentLrSchedule)) {
    throw new RangeError(
      `distill: studentLrSchedule must be ${quotedList(STUDENT_LR_SCHEDULES)}, got ${JSON.stringify(settings.studentLrSchedule)}`,
    );
  }
  if (settings.workers !== 1 && settings.workers !== 2) {
    throw new RangeError(`distill: workers must be 1 or 2, got ${settings.workers}`);
  }
  if (settings.workers === 2 && !workerThreadsAvailable) {
    throw new Error(
      'distill: workers: 2 runs the second replica in a Node.js worker thread, which this platform lacks; use workers: 1',
    );
  }
  if (settings.workers === 2 && settings.batchSize < 2) {
    throw new RangeError(`distill: batchSize must be at least 2 to split over 2 workers, got ${settings.batchSize}`);
  }
  if (settings.timeBudgetMs !== null && !(settings.timeBudgetMs > 0 && Number.isFinite(settings.timeBudgetMs))) {
    throw new RangeError(`distill: timeBudgetMs must be a positive number, got ${settings.timeBudgetMs}`);
  }
  for (const key of ['warmupFraction', 'superposeFraction'] as const) {
    if (!(settings[key] >= 0 && settings[key] < 1)) {
      throw new RangeError(`distill: ${key} must be in [0, 1), got ${settings[key]}`);
    }
  }
  for (const key of ['temperature', 'generatorLearningRate', 'studentLearningRate'] as const) {
    checkPositive(settings[key], `distill: ${key}`);
  }
  for (const key of ['bnsWeight', 'kdAlpha', 'weightDecay'] as const) {
    checkLossWeight(settings[key], `distill: ${key}`);
  }
  return settings;
}

/** Classes of a classifier: the last dimension of its (single) output. */
function outputClasses(teacher: LayersModel): number {
  const shape = teacher.outputs[0]?.shape ?? [];
  return (shape[shape.length - 1] as number | null) ?? 0;
}

/** The resolved settings {@link resolveSettings} returns. */
export type DistillSettings = ReturnType<typeof resolveSettings>;

/** `'a' or 'b'`: allowed values for an error message. */
function quotedList(values: readonly string[]): string {
  return values.map((v) => `'${v}'`).join(' or ');
}

/** Whether `workers: 2` can run on this platform: in Node.js (worker threads), not in browsers. */
export function canUseWorkerThreads(): boolean {
  return workerThreadsAvailable;
}
