import { createDisentanglementMapping } from '@qimera/disentangle';
import {
  canUseWorkerThreads,
  checkCheckpoint,
  checkInputRange,
  checkJitter,
  checkLossWeight,
  checkStartingNoise,
  type DistillOptions,
  type DistillProgress,
  distill,
  type Fidelity,
  FidelityGuard,
  FidelitySet,
  type GuardCriterion,
  type IterationLosses,
  previewSamples,
  resolveSettings,
  type SamplePreview,
  type StartingNoise,
  synthesisStyle,
  TrainingDivergedError,
} from '@qimera/distill';
import { createGenerator, GENERATOR_DEFAULTS, type GeneratorOptions, generatorFootprint } from '@qimera/generator';
import {
  describeNonFinite,
  foldBatchNorm,
  nonFiniteWeights,
  type QuantizeModelConfig,
  quantizeModel,
  RECONSTRUCTION_BATCH_SIZE,
  type RoundingReconstructionOptions,
} from '@qimera/quantizers';
import { ClassEmbedding } from '@qimera/superposition';
import { getBackend } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { useFastestBackend } from './backend.js';
import { CALIBRATED_RANGES, CALIBRATION_BATCH_SIZE, CALIBRATION_IMAGES } from './calibrate_on_images.js';
import {
  type CalibratedStartReport,
  calibrateStart,
  RECONSTRUCTION_IMAGES,
  SYNTHESIS_STEPS,
} from './calibrated_start.js';
import { defaultGenerationSize, methodDefaults, type SchedulePreset } from './defaults.js';
import { logitsView, withSoftmax } from './logits_view.js';
import { backendMemoryLimit, type MemoryPlan, planMemory, planReconstruction, planTraining } from './memory_plan.js';
import { calibrateOnNoise, calibrateUnobservedRanges } from './noise_calibration.js';
import {
  CALIBRATION_SYNTHESIS_SHARE,
  FIDELITY_SYNTHESIS_SHARE,
  imagesWithinBudget,
  MIN_CALIBRATION_IMAGES,
  msPerSynthesizedImage,
} from './synthesis_budget.js';
import { inspectClassifier } from './validate.js';

/** The data-free methods. */
export type DataFreeMethod = 'qimera' | 'gdfq' | 'adaround' | 'mse' | 'minmax';
/** The methods {@link quantizeDataFree} runs. */
export const DATA_FREE_METHODS: readonly DataFreeMethod[] = ['qimera', 'gdfq', 'adaround', 'mse', 'minmax'];
/** Where the training methods start; see {@link DataFreeOptions.start}. */
export type StartingPoint = 'calibrated' | 'minmax';
/** Every {@link StartingPoint}. */
export const STARTING_POINTS: readonly StartingPoint[] = ['calibrated', 'minmax'];
/** The time budget when neither `minutes` nor `iterations` is given. */
export const DEFAULT_BUDGET_MINUTES = 10;

/** Trainer settings a caller may override (everything but the models). */
export type TrainerOverrides = Partial<
  Omit<
    DistillOptions,
    'teacher' | 'student' | 'generator' | 'embedding' | 'mapping' | 'images' | 'signal' | 'onProgress' | 'seed'
  >
>;

/** Options of {@link quantizeDataFree}. Only the bit widths are required. */
export interface DataFreeOptions extends TrainerOverrides {
  weightBits: number;
  activationBits: number;
  /**
   * `'qimera'` (default): superposed embeddings and the disentanglement mapping.
   * `'gdfq'`: plain class embeddings, no mapping. Both train a generator and distil the
   * student from the starting point {@link start}. `'adaround'`: no generator, the
   * calibrated start then learned rounding of every kernel, with the step sizes of the
   * activation quantizers feeding them, by layer-wise reconstruction on synthesized
   * images (AdaRound with LSQ steps; see {@link reconstruction}). `'mse'`: no training,
   * the calibrated start alone (error-minimising weight and activation ranges on
   * synthesized images, bias correction). `'minmax'`: no generator; min/max weight ranges and activation
   * ranges from N(0, 1) images, the naive data-free baseline.
   */
  method?: DataFreeMethod;
  /**
   * Schedule defaults: `'short'` (default, for CPU budgets of minutes to an hour) or
   * `'paper'` (QIMERA.md's, built for 80,000 iterations); see {@link SchedulePreset}.
   * Trainer options given explicitly override the preset's values.
   */
  preset?: SchedulePreset;
  /**
   * The time budget of the whole call, in minutes: the run stops when it is spent and
   * returns the student (the best state by fidelity with a {@link guard}). Synthesized
   * image sets are sized to fit in it (see `fidelityImages`, `calibrationImages`). With the
   * `'short'` preset the schedule is laid over it (warm-up, superposition and the
   * student's learning-rate decay follow the clock; see `DistillOptions.timeBudgetMs`).
   * Default {@link DEFAULT_BUDGET_MINUTES} unless `iterations` is given.
   */
  minutes?: number;
  /**
   * Iteration budget: the schedule follows iterations (and repeats exactly for a seed).
   * With `minutes` too, the run stops at whichever comes first.
   */
  iterations?: number;
  /**
   * The training methods' starting point. `'calibrated'` (default): the `'mse'`
   * method's student, ranges frozen before training (warm-up trains the generator
   * only). `'minmax'`: the paper's, min/max kernel ranges and activation ranges
   * calibrated by EMA on generated images during warm-up.
   */
  start?: StartingPoint;
  /**
   * Images synthesized for the calibrated start. Default 64. Under a `minutes` budget
   * fewer (at least {@link MIN_CALIBRATION_IMAGES}) when synthesizing them would take
   * more than {@link CALIBRATION_SYNTHESIS_SHARE} of it, as at 224x224 on a CPU.
   */
  calibrationImages?: number;
  /** Synthesis steps for the calibrated start and the fidelity set. Default 20. */
  synthesisSteps?: number;
  /**
   * Weight of the BN-statistics loss in synthesis, next to the class loss (see
   * `synthesizeImages`). Default 1. With an {@link inputRange}, 10 and 200 steps
   * measured better on the MNIST demo (docs/benchmarks.md).
   */
  synthesisBnsWeight?: number;
  /**
   * Weight of the smoothness prior in synthesis (squared total variation, see
   * `synthesizeImages`'s `tvWeight`; in squared input units). Default 0. On ResNet-20 /
   * CIFAR-10 (inputs in [-2, 2]), 10 with the jitter and flip recipe made learned
   * rounding's images better in 10 minutes, not in an hour (docs/benchmarks.md).
   */
  synthesisTvWeight?: number;
  /**
   * The noise synthesized images start from (see `synthesizeImages`'s `startingNoise`):
   * `'white'` (default) or `'multiScale'`, noise with large-scale structure, whose
   * images differ in brightness and colour as real ones do. On ResNet-20 / CIFAR-10 W4A4
   * (`'adaround'` by blocks with QDrop; input range, BN weight 10, smoothness prior 10,
   * jitter 2, flips) it raised an hour's result from 87.24% to 87.68% (docs/benchmarks.md).
   */
  synthesisStartingNoise?: StartingNoise;
  /**
   * Random translation in synthesis, up to this many pixels each way (see
   * `synthesizeImages`). Default 0. On a CIFAR-10 MobileNet-style teacher, 2 with
   * {@link synthesisFlip}, an {@link inputRange}, 100 steps and BN weight 10 turned
   * learned rounding on synthesized images from a loss into a gain (docs/benchmarks.md).
   */
  synthesisJitter?: number;
  /** Random left-right mirroring in synthesis (see `synthesizeImages`); only for teachers trained on mirrored images. Default false. */
  synthesisFlip?: boolean;
  /**
   * The range of the model's input values, `[min, max]` (its pixel range after its own
   * normalisation: [0, 1], [-1, 1], or (0 - mean) / std to (1 - mean) / std): synthesized
   * images stay in it. Default: unbounded. Give it when you know it: the calibrated and
   * reconstructed starts measure much better with it (docs/benchmarks.md).
   */
  inputRange?: readonly [number, number];
  /**
   * Learned rounding of the `'adaround'` method (see `reconstructRounding`): `images`
   * synthesized for it (default 256) and the optimisation's settings. The run's budget
   * (`minutes`) is shared among the layers: each takes at most `iterations` steps, fewer
   * when the budget runs short.
   */
  reconstruction?: Omit<RoundingReconstructionOptions, 'signal' | 'timeBudgetMs'> & { images?: number };
  /** Bias correction in the calibrated start. Default true. */
  biasCorrection?: boolean;
  /**
   * Size of the fidelity set: synthesized images (half plain-class, half superposed)
   * that training never uses, on which the student's agreement with the teacher is
   * measured (see `FidelitySet`). 0 turns fidelity and the guard off. Default 128 for
   * models with BatchNormalization layers, 0 for the others. Under a `minutes` budget
   * fewer (at least 2) when synthesizing them would take more than
   * {@link FIDELITY_SYNTHESIS_SHARE} of it (the run times one synthesis batch first).
   */
  fidelityImages?: number;
  /**
   * A fidelity set to measure on instead of synthesizing one (`fidelityImages` is then
   * ignored): to compare several runs on the same images. The caller keeps and disposes it.
   * For a model that ends in a softmax, synthesize it from the model's logits
   * (`logitsView(model).logits`), as the run measures its student's logits.
   */
  fidelitySet?: FidelitySet;
  /**
   * The fidelity guard: with `'kl'` or `'agreement'` the run returns the student state,
   * the starting point included, with the best fidelity by that criterion (see
   * `GuardCriterion`), so it never returns one that follows the teacher less closely on
   * the fidelity set than its start. Default `'off'`: the last state. Fidelity on
   * synthesized images was measured not to track real accuracy (docs/benchmarks.md);
   * the guard catches runs that diverge, and can hold back ones that improve.
   */
  guard?: GuardCriterion | 'off';
  /** Training iterations between fidelity checks (progress, report and guard). Default 25. */
  guardEvery?: number;
  /** Latent (embedding) length. Default 64, or 512 for ImageNet-scale models. */
  latentDim?: number;
  /** Disentanglement mapping ('qimera' only). Default true; false reproduces the official scripts. */
  mapping?: boolean;
  /** Mapping output length. Default 100. */
  intermediateDim?: number;
  /** 'random' N(0, 1) (default, as the official CIFAR-10 script) or 'classifier' (last Dense kernel). */
  embeddingInit?: 'random' | 'classifier';
  /** Train the embedding table with the generator. Default true. */
  trainEmbedding?: boolean;
  /**
   * Generator architecture overrides (the image size comes from the model). Its layers
   * work at `generationSize`: by default the model's size up to 64 pixels a side, and
   * for larger images the largest multiple of 4 that an integer factor brings under 64
   * (56x56 for 224x224), resized bilinearly to the model's size (see {@link defaultGenerationSize}).
   */
  generator?: Pick<
    GeneratorOptions,
    'baseChannels' | 'bnEpsilon' | 'firstBnEpsilon' | 'leakySlope' | 'upsampling' | 'generationSize'
  >;
  /** Class-conditional BN generator. Default: only for ImageNet-scale models. */
  classConditionalGenerator?: boolean;
  /** Quantizer settings beyond the bit widths (schemes, observers, per-layer overrides). */
  quantization?: Omit<QuantizeModelConfig, 'weightBits' | 'activationBits'>;
  /** 'minmax': number of N(0, 1) calibration batches. Default 4. */
  calibrationBatches?: number;
  /**
   * tfjs backend: 'auto' (default) switches to the fastest registered one (see
   * `useFastestBackend`); 'current' keeps the active backend; any other name selects
   * that backend.
   */
  backend?: string;
  /**
   * The memory the backend may use, in MiB, to plan batch sizes by. Default: the wasm
   * heap's 4096; none for other backends (their batches are not planned).
   */
  memoryLimitMB?: number;
  /** Where the backend choice and memory planning are reported. Default: silent. */
  log?: (message: string) => void;
  /**
   * Where warnings go: a budget that ends inside warm-up, when the student never trains.
   * Default `console.warn`.
   */
  warn?: (message: string) => void;
  /**
   * Return the trained generator, embedding table and mapping (the caller disposes
   * them), e.g. to look at the images it learned. Default false: they are disposed.
   */
  keepGenerator?: boolean;
  /**
   * Threads: 1 (default) or 2. With 2, a Node.js worker thread synthesizes every other
   * image batch of the calibrated start and of learned rounding (the same images as on
   * one thread, in about half the time), and the training methods split each batch over
   * both threads (see `distill`'s `workers`). Node.js only; elsewhere 2 is refused.
   */
  workers?: number;
  /** Makes a run reproducible on the same backend. Default 1. */
  seed?: number;
  signal?: AbortSignal;
  /** After every iteration, with the student (see `DistillOptions.onProgress`). */
  onProgress?: (progress: DataFreeProgress, student: LayersModel) => void;
  /**
   * The training methods' generator at work: after the first training iteration and
   * every {@link samplesEvery}, a preview of fixed latents (a plain image per class and
   * two-class mixes, up to 10 each; see `previewSamples`), to watch the images evolve.
   * Training is the same with or without it.
   */
  onSamples?: (samples: SamplePreview, iteration: number) => void;
  /** Training iterations between {@link onSamples} previews. Default 25. */
  samplesEvery?: number;
}

/** Progress of a training method: the trainer's, with the latest fidelity check. */
export interface DataFreeProgress extends DistillProgress {
  /** The latest fidelity check (the starting point's until the first in training); null without a fidelity set. */
  fidelity: Fidelity | null;
}

/** The trained image source, returned by `keepGenerator: true`; the caller owns it. */
export interface TrainedGenerator {
  generator: LayersModel;
  embedding: ClassEmbedding;
  /** Null for 'gdfq' or `mapping: false`. */
  mapping: LayersModel | null;
}

/** What {@link quantizeDataFree} did. */
export interface DataFreeReport {
  method: DataFreeMethod;
  weightBits: number;
  activationBits: number;
  /** Every setting in force, defaults included. */
  settings: Record<string, unknown>;
  iterations: number;
  aborted: boolean;
  wallTimeMs: number;
  finalLosses: IterationLosses | null;
  backend: string;
  /** The calibrated start, when one was made. */
  start: CalibratedStartReport | null;
  /**
   * Fidelity of the starting point and of the returned student, and the training
   * iteration the returned student comes from (0: the starting point); null without a
   * fidelity set.
   */
  fidelity: { start: Fidelity; returned: Fidelity; returnedIteration: number; checks: number } | null;
  /** The batch sizes (and images for learned rounding) planned to fit the backend's memory (`memoryLimitMB`). */
  memory: MemoryPlan & {
    /** Images per training pass in each heap when the batch is accumulated over several; null when it is not. */
    trainingMicroBatch: number | null;
    reconstructionImages: number | null;
  };
}

/**
 * Quantizes a trained classifier without data. Returns the fake-quantized student
 * (activation ranges frozen, ready for inference and saving) and a report; `model`
 * itself is not changed. A model that ends in a softmax is quantized and trained on its
 * logits (see {@link logitsView}) and the student comes back with the softmax, in a
 * layer of its own after the last quantized layer. The training methods start from a
 * calibrated student and measure its fidelity to the teacher on synthesized images as
 * they train; with a `guard` they return the best state by that measure, so the result
 * is never worse, by it, than its start.
 *
 * The training methods take `checkpoint` (the whole training state, every so often and
 * when the run ends; in Node `checkpointFolder(dir)` from `qimera/node` stores it) and
 * `resumeFrom` (a checkpoint of a run with the same options: training continues from
 * it, the calibrated start is not computed again; a guard starts afresh from the
 * resumed state).
 *
 * @throws if the model is not an NHWC image classifier (with BatchNorm layers, for
 *   every method but 'minmax'), or an option is invalid; each problem is named.
 * @throws TrainingDivergedError when training produced a non-finite loss or weights,
 *   naming the iteration; its `student` is the last good student, which the caller
 *   then owns.
 */
export async function quantizeDataFree(
  model: LayersModel,
  options: DataFreeOptions,
): Promise<{ model: LayersModel; report: DataFreeReport; generator?: TrainedGenerator }> {
  const started = Date.now();
  const method = options.method ?? 'qimera';
  if (!DATA_FREE_METHODS.includes(method)) {
    throw new Error(
      `quantizeDataFree: method must be one of ${DATA_FREE_METHODS.map((m) => `'${m}'`).join(', ')}, ` +
        `got ${JSON.stringify(method)}`,
    );
  }
  const plan = checkBudget(options);
  for (const [name, value] of [
    ['batchSize', options.batchSize],
    ['calibrationBatches', options.calibrationBatches],
    ['samplesEvery', options.samplesEvery],
    ['calibrationImages', options.calibrationImages],
    ['synthesisSteps', options.synthesisSteps],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= 1)) {
      throw new RangeError(`quantizeDataFree: ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  // Checked here, not only where the sets are built: at 224x224 timing synthesis takes seconds first.
  if (
    options.fidelityImages !== undefined &&
    !(Number.isInteger(options.fidelityImages) && options.fidelityImages >= 0)
  ) {
    throw new RangeError(
      `quantizeDataFree: fidelityImages must be a non-negative integer (0: no fidelity set), got ${String(options.fidelityImages)}`,
    );
  }
  if (options.inputRange !== undefined) checkInputRange(options.inputRange, 'quantizeDataFree: inputRange');
  if (options.synthesisStartingNoise !== undefined) {
    checkStartingNoise(options.synthesisStartingNoise, 'quantizeDataFree: synthesisStartingNoise');
  }
  for (const [name, value] of [
    ['synthesisTvWeight', options.synthesisTvWeight],
    ['synthesisBnsWeight', options.synthesisBnsWeight],
  ] as const) {
    if (value !== undefined) checkLossWeight(value, `quantizeDataFree: ${name}`);
  }
  const trains = method === 'qimera' || method === 'gdfq';
  const workers = options.workers ?? 1;
  if (workers !== 1 && workers !== 2) {
    throw new RangeError(`quantizeDataFree: workers must be 1 or 2, got ${String(options.workers)}`);
  }
  if (workers === 2 && !canUseWorkerThreads()) {
    throw new Error(
      'quantizeDataFree: workers: 2 needs Node.js worker threads, which this platform lacks; use workers: 1',
    );
  }
  const startingPoint = options.start ?? 'calibrated';
  if (!STARTING_POINTS.includes(startingPoint)) {
    throw new Error(`quantizeDataFree: start must be 'calibrated' or 'minmax', got ${JSON.stringify(startingPoint)}`);
  }
  const shape = inspectClassifier(model, { needsGenerator: trains, needsBatchNorm: method !== 'minmax' });
  if (options.synthesisJitter !== undefined) {
    checkJitter(options.synthesisJitter, Math.min(shape.height, shape.width), 'quantizeDataFree: synthesisJitter');
  }
  const broken = nonFiniteWeights(model);
  if (broken.length > 0) {
    throw new Error(
      `quantizeDataFree: the teacher '${model.name}' has non-finite weights (a corrupt weights file?):\n` +
        broken.map((found) => `  - ${describeNonFinite(found)}`).join('\n'),
    );
  }
  const backend = options.backend ?? 'auto';
  const warn = options.warn ?? console.warn;
  if (backend !== 'current') {
    await useFastestBackend({
      ...(backend === 'auto' ? {} : { prefer: backend }),
      ...(options.log ? { log: options.log } : {}),
    });
  }
  const preset = options.preset ?? 'short';
  const defaults = methodDefaults(shape.numClasses, Math.max(shape.height, shape.width), preset);
  const seed = options.seed ?? 1;
  const reconstructs = method === 'adaround';
  const calibrated = method === 'mse' || reconstructs || (trains && startingPoint === 'calibrated');
  if (!trains && (options.checkpoint || options.resumeFrom)) {
    throw new Error(`quantizeDataFree: checkpoint and resumeFrom apply to 'qimera' and 'gdfq', not '${method}'`);
  }
  if (options.resumeFrom) checkCheckpoint(options.resumeFrom);
  // A resumed run's checkpoint holds the student: its start is not computed again.
  const calibratesNow = calibrated && !options.resumeFrom;
  const useMapping = method === 'qimera' && (options.mapping ?? true);
  const latentDim = options.latentDim ?? defaults.latentDim;
  const intermediateDim = options.intermediateDim ?? 100;
  const classConditional = options.classConditionalGenerator ?? defaults.classConditionalGenerator;
  const generatorOptions: GeneratorOptions = {
    generationSize: defaultGenerationSize(shape.height, shape.width),
    ...options.generator,
    imageSize: [shape.height, shape.width],
    channels: shape.channels,
    inputDim: useMapping ? intermediateDim : latentDim,
    ...(classConditional ? { classConditional: { numClasses: shape.numClasses } } : {}),
    seed,
  };
  // Batch sizes that fit the backend's memory, planned before anything is allocated.
  const memoryLimit = backendMemoryLimit(getBackend(), options.memoryLimitMB);
  const fidelityImages = options.fidelitySet ? 0 : (options.fidelityImages ?? (shape.batchNormLayers > 0 ? 128 : 0));
  const synthesizes = calibrated || fidelityImages > 0;
  const memoryPlan = planMemory(model, CALIBRATION_BATCH_SIZE, memoryLimit, synthesizes);
  const requestedBatch = options.batchSize ?? defaults.batchSize;
  const training = trains
    ? planTraining(model, generatorFootprint(generatorOptions), requestedBatch, workers, memoryLimit)
    : null;
  // A micro-batch size the caller gives is kept when it is no larger than what fits.
  const microBatchSize = minOrNull(training?.microBatchSize ?? null, options.microBatchSize ?? null);
  if (training?.microBatchSize != null && microBatchSize === training.microBatchSize) {
    options.log?.(
      `qimera: batch ${requestedBatch} does not fit the '${getBackend()}' backend's memory in one pass; ` +
        `accumulating gradients over passes of ${microBatchSize} images ` +
        `(about ${Math.round(training.bytesPerImage / 2 ** 20)} MiB per image)`,
    );
  }
  const wantedReconstruction = options.reconstruction?.images ?? RECONSTRUCTION_IMAGES;
  const reconstructionPlan = reconstructs
    ? planReconstruction(
        model,
        wantedReconstruction,
        options.reconstruction?.batchSize ?? RECONSTRUCTION_BATCH_SIZE,
        memoryLimit,
        options.reconstruction?.granularity,
      )
    : null;
  const reconstructionImages = reconstructionPlan?.images ?? null;
  if (reconstructionImages !== null && reconstructionImages < wantedReconstruction) {
    warn(
      `quantizeDataFree: ${wantedReconstruction} images for learned rounding do not fit the '${getBackend()}' ` +
        `backend's memory; using ${reconstructionImages}`,
    );
  }
  const synthesisBatch = memoryPlan.synthesisBatch ?? CALIBRATION_BATCH_SIZE;
  if (synthesisBatch < CALIBRATION_BATCH_SIZE || memoryPlan.forwardBatch < CALIBRATION_BATCH_SIZE) {
    options.log?.(
      `quantizeDataFree: ${synthesizes ? `synthesizing ${synthesisBatch} and ` : ''}calibrating ` +
        `${memoryPlan.forwardBatch} images at a time to fit the '${getBackend()}' backend's memory`,
    );
  }
  // How images are synthesized, the same for the fidelity set and the calibrated start.
  const synthesis = {
    ...(options.synthesisSteps !== undefined ? { steps: options.synthesisSteps } : {}),
    ...synthesisStyle({
      inputRange: options.inputRange,
      bnsWeight: options.synthesisBnsWeight,
      tvWeight: options.synthesisTvWeight,
      startingNoise: options.synthesisStartingNoise,
      jitter: options.synthesisJitter,
      flip: options.synthesisFlip,
    }),
  };
  let stage = 'quantizing the model';
  // The method works on logits; a softmax the teacher ends in is put back on the student it returns.
  const view = await logitsView(model);
  const teacher = view.logits;
  const asGiven = (net: LayersModel) => (view.softmaxName ? withSoftmax(net, view.softmaxName) : net);
  const student = await quantizeModel(teacher, {
    ...(calibrated ? CALIBRATED_RANGES : {}),
    ...options.quantization,
    weightBits: options.weightBits,
    activationBits: options.activationBits,
  }).catch((error: unknown) => {
    view.dispose();
    throw error;
  });
  let fidelitySet: FidelitySet | null = options.fidelitySet ?? null;
  let guard: FidelityGuard | null = null;
  const parts: { generator?: LayersModel; embedding?: ClassEmbedding; mapping?: LayersModel | null } = {};
  let handedOver = false;
  // The error the run failed with, if it did: clean-up after a backend failure may fail too.
  let failure: unknown = null;
  try {
    let fidelityCount = fidelityImages;
    let calibrationImages = options.calibrationImages ?? CALIBRATION_IMAGES;
    if (plan.minutes !== undefined && (fidelityCount > 0 || calibratesNow)) {
      stage = 'timing image synthesis';
      // The image sets are synthesized before anything else: each takes at most a share of the budget.
      const msPerImage = await msPerSynthesizedImage(
        teacher,
        synthesisBatch,
        options.synthesisSteps ?? SYNTHESIS_STEPS,
        synthesis,
      );
      const budgetMs = plan.minutes * 60_000;
      const fit = (wanted: number, share: number, minimum: number, what: string) => {
        const count = imagesWithinBudget(wanted, msPerImage, budgetMs, share, Math.min(wanted, minimum));
        if (count < wanted) {
          options.log?.(
            `quantizeDataFree: synthesizing ${count} of ${wanted} ${what} images to fit the ${plan.minutes}-minute ` +
              `budget (about ${(msPerImage / 1000).toFixed(1)} s each)`,
          );
        }
        return count;
      };
      if (fidelityCount > 0) fidelityCount = fit(fidelityCount, FIDELITY_SYNTHESIS_SHARE, 2, 'fidelity');
      if (calibratesNow) {
        calibrationImages = fit(calibrationImages, CALIBRATION_SYNTHESIS_SHARE, MIN_CALIBRATION_IMAGES, 'calibration');
      }
    }
    if (fidelityCount > 0) {
      stage = 'synthesizing the fidelity set';
      // A seed apart from the calibration and training ones: the set must be images neither uses.
      fidelitySet = await FidelitySet.synthesize(teacher, {
        images: fidelityCount,
        batchSize: Math.min(synthesisBatch, Math.ceil(fidelityCount / 2)),
        ...synthesis,
        seed: seed + 104_729,
        workers,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    }
    let start: CalibratedStartReport | null = null;
    if (calibratesNow) {
      stage = 'synthesizing images and calibrating the starting point';
      const reference = options.quantization?.foldBatchNorm ? await foldBatchNorm(teacher) : teacher;
      try {
        start = await calibrateStart(teacher, student, {
          images: calibrationImages,
          ...synthesis,
          biasCorrection: options.biasCorrection ?? true,
          synthesisBatchSize: synthesisBatch,
          forwardBatchSize: memoryPlan.forwardBatch,
          reference,
          seed,
          workers,
          // Learned rounding fits its steps into what is left of the budget.
          ...(reconstructs && plan.minutes !== undefined ? { deadline: started + plan.minutes * 60_000 } : {}),
          ...(reconstructionPlan
            ? {
                reconstruction: {
                  ...options.reconstruction,
                  images: reconstructionPlan.images,
                  batchSize: reconstructionPlan.stepBatch,
                },
              }
            : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
      } finally {
        if (reference !== teacher) reference.dispose();
      }
    }
    const finish = (
      settings: Record<string, unknown>,
      iterations: number,
      aborted: boolean,
      finalLosses: IterationLosses | null,
      startFidelity: Fidelity | null,
      finalFidelity: Fidelity | null,
    ) => {
      const returned = guard ? guard.restoreBest() : { iteration: iterations, fidelity: finalFidelity };
      const fidelity =
        startFidelity && returned.fidelity
          ? {
              start: startFidelity,
              returned: returned.fidelity,
              returnedIteration: returned.iteration,
              checks: guard?.history.length ?? 1,
            }
          : null;
      return {
        model: asGiven(student),
        report: {
          method,
          weightBits: options.weightBits,
          activationBits: options.activationBits,
          settings,
          iterations,
          aborted,
          wallTimeMs: Date.now() - started,
          finalLosses,
          backend: getBackend(),
          start,
          fidelity,
          memory: { ...memoryPlan, trainingMicroBatch: microBatchSize, reconstructionImages },
        },
      };
    };

    if (!trains) {
      const settings: Record<string, unknown> = { seed };
      if (method === 'minmax') {
        stage = 'calibrating on noise images';
        const batches = options.calibrationBatches ?? 4;
        const batchSize = Math.min(requestedBatch, memoryPlan.forwardBatch);
        const observed = await calibrateOnNoise(student, shape, {
          batches,
          batchSize,
          seed,
          ...(options.signal ? { signal: options.signal } : {}),
        });
        Object.assign(settings, { calibrationBatches: observed, batchSize });
      }
      const fidelity = fidelitySet?.measure(student) ?? null;
      return finish(settings, 0, options.signal?.aborted === true, null, fidelity, fidelity);
    }

    stage = 'training';
    const generator = createGenerator(generatorOptions);
    parts.generator = generator;
    const trainEmbedding = options.trainEmbedding ?? true;
    const embedding =
      options.embeddingInit === 'classifier'
        ? ClassEmbedding.fromClassifier(teacher, { expectedDim: latentDim, trainable: trainEmbedding })
        : ClassEmbedding.random(shape.numClasses, latentDim, { seed, trainable: trainEmbedding });
    parts.embedding = embedding;
    const mapping = useMapping ? createDisentanglementMapping({ latentDim, intermediateDim, seed }) : null;
    parts.mapping = mapping;

    // The starting point is checked first (its ranges are frozen once calibrated; a
    // 'minmax' start has none until warm-up calibrates them, so its first check waits).
    const criterion = options.guard ?? 'off';
    if (fidelitySet && criterion !== 'off') guard = new FidelityGuard(fidelitySet, student, criterion);
    // The first and the latest fidelity measured (through the guard when there is one).
    const measured: { first: Fidelity | null; latest: { iteration: number; fidelity: Fidelity } | null } = {
      first: null,
      latest: null,
    };
    const measure = (set: FidelitySet, iteration: number) => {
      const fidelity = guard ? guard.check(iteration).fidelity : set.measure(student);
      measured.first ??= fidelity;
      measured.latest = { iteration, fidelity };
    };
    if (calibratesNow && fidelitySet) measure(fidelitySet, 0);
    const guardEvery = options.guardEvery ?? 25;
    const samplesEvery = options.samplesEvery ?? 25;
    const timeBudgetMs = plan.minutes === undefined ? undefined : plan.minutes * 60_000 - (Date.now() - started);
    const timed = timeBudgetMs !== undefined && preset === 'short';
    const stopAtBudget = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stopAtBudget.signal]) : stopAtBudget.signal;
    const iterations = plan.iterations ?? (timed ? 1_000_000_000 : 80_000);
    const warmupIterations =
      (options.warmupEpochs ?? defaults.warmupEpochs) * (options.iterationsPerEpoch ?? defaults.iterationsPerEpoch);
    if (!timed && iterations <= warmupIterations) {
      warn(
        `quantizeDataFree: ${iterations} iterations end inside warm-up (${warmupIterations} iterations): ` +
          'the student never trains, only its starting point is returned',
      );
    }
    const trainer: DistillOptions = {
      iterationsPerEpoch: defaults.iterationsPerEpoch,
      warmupEpochs: defaults.warmupEpochs,
      studentLearningRate: defaults.studentLearningRate,
      studentLrSchedule: defaults.studentLrSchedule,
      superposeAfter: defaults.superposeAfter,
      slots: defaults.slots,
      ...stripUndefined(options),
      batchSize: requestedBatch,
      ...(microBatchSize !== null ? { microBatchSize } : {}),
      ...(method === 'gdfq' ? { superposeProbability: 0 } : {}),
      ...(timed ? { timeBudgetMs: Math.max(1, timeBudgetMs) } : {}),
      iterations,
      teacher,
      student,
      generator,
      embedding,
      mapping,
      seed,
      signal,
      onProgress: (progress, current) => {
        const due = progress.iteration % guardEvery === 0 && progress.phase === 'distill';
        if (fidelitySet && due) measure(fidelitySet, progress.iteration);
        if (!timed && timeBudgetMs !== undefined && progress.elapsedMs >= timeBudgetMs) stopAtBudget.abort();
        options.onProgress?.({ ...progress, fidelity: measured.latest?.fidelity ?? null }, current);
        if (options.onSamples && (progress.iteration === 1 || progress.iteration % samplesEvery === 0)) {
          const preview = previewSamples({ generator, embedding, mapping }, { seed, settings: options });
          options.onSamples(preview, progress.iteration);
        }
      },
    };
    const result = timed && timeBudgetMs <= 0 ? { iterations: 0, aborted: false, last: null } : await distill(trainer);
    const fromNoise = calibrateUnobservedRanges(student, shape, seed);
    if (fromNoise.length > 0) {
      warn(
        `quantizeDataFree: the run stopped before ${fromNoise.length} activation range(s) were calibrated ` +
          `(${fromNoise.join(', ')}); they were calibrated on N(0, 1) noise, as 'minmax' does`,
      );
    }
    if (result.last?.phase !== 'distill') {
      warn(
        `quantizeDataFree: the run ended inside warm-up after ${result.iterations} iterations: ` +
          'the student never trained; give a larger budget for training to help',
      );
    }
    // The final state is measured (and a guard candidate) unless the last check saw it.
    if (fidelitySet && result.iterations > 0 && measured.latest?.iteration !== result.iterations) {
      measure(fidelitySet, result.iterations);
    }
    const settings = {
      preset,
      ...resolveSettings(trainer),
      start: startingPoint,
      latentDim,
      mapping: useMapping,
      intermediateDim: useMapping ? intermediateDim : null,
      embeddingInit: options.embeddingInit ?? 'random',
      classConditionalGenerator: classConditional,
      generator: { ...GENERATOR_DEFAULTS, ...options.generator, generationSize: generatorOptions.generationSize },
    };
    const done = finish(
      settings,
      result.iterations,
      options.signal?.aborted === true,
      result.last?.losses ?? null,
      // A 'minmax' start has no ranges before warm-up: its first check stands for it.
      measured.first,
      measured.latest?.fidelity ?? null,
    );
    handedOver = options.keepGenerator ?? false;
    return handedOver ? { ...done, generator: { generator, embedding, mapping } } : done;
  } catch (error) {
    failure = error;
    // A diverged run hands over its last good student (ranges frozen, weights finite).
    if (error instanceof TrainingDivergedError) error.student = asGiven(student);
    else cleanUpAfter(failure, () => student.dispose());
    throw backendFailure(error, stage);
  } finally {
    cleanUpAfter(failure, () => {
      view.dispose();
      guard?.dispose();
      if (fidelitySet !== options.fidelitySet) fidelitySet?.dispose();
      if (!handedOver) {
        parts.generator?.dispose();
        parts.embedding?.dispose();
        parts.mapping?.dispose();
      }
    });
  }
}

/** Whether an error is a wasm RuntimeError (by name: the type is not in every TypeScript lib). */
function isRuntimeError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'RuntimeError';
}

/**
 * Runs a clean-up; after a wasm RuntimeError (`failure`) its heap may be corrupt, so a
 * clean-up that fails too is ignored rather than hiding the first error.
 */
function cleanUpAfter(failure: unknown, release: () => void): void {
  try {
    release();
  } catch (secondary) {
    if (!isRuntimeError(failure)) throw secondary;
  }
}

/**
 * A wasm RuntimeError (an out-of-bounds access, typically the heap running out) as an
 * error that says what was running; other errors unchanged.
 */
function backendFailure(error: unknown, stage: string): unknown {
  if (!isRuntimeError(error)) return error;
  return new Error(
    `quantizeDataFree: the '${getBackend()}' backend failed while ${stage} (${error.message}); ` +
      'its memory is likely exhausted and the backend cannot be used again in this process: ' +
      'lower memoryLimitMB, use fewer images or a backend with more memory',
    { cause: error },
  );
}

/** The budget asked for: `minutes` and / or `iterations`, the default budget when neither. */
function checkBudget(options: DataFreeOptions): { minutes?: number; iterations?: number } {
  const { minutes, iterations } = options;
  if (minutes !== undefined && !(typeof minutes === 'number' && minutes > 0 && Number.isFinite(minutes))) {
    throw new RangeError(`quantizeDataFree: minutes must be a positive number, got ${String(minutes)}`);
  }
  if (iterations !== undefined && !(Number.isInteger(iterations) && iterations > 0)) {
    throw new RangeError(`quantizeDataFree: iterations must be a positive integer, got ${String(iterations)}`);
  }
  if (minutes === undefined && iterations === undefined) return { minutes: DEFAULT_BUDGET_MINUTES };
  return { ...(minutes !== undefined ? { minutes } : {}), ...(iterations !== undefined ? { iterations } : {}) };
}

// Options the umbrella handles itself are not trainer settings.
const OWN_OPTIONS = new Set([
  'weightBits',
  'minutes',
  'iterations',
  'start',
  'calibrationImages',
  'synthesisSteps',
  'synthesisBnsWeight',
  'synthesisTvWeight',
  'synthesisStartingNoise',
  'synthesisJitter',
  'synthesisFlip',
  'biasCorrection',
  'inputRange',
  'reconstruction',
  'fidelityImages',
  'fidelitySet',
  'guard',
  'guardEvery',
  'activationBits',
  'method',
  'preset',
  'latentDim',
  'mapping',
  'intermediateDim',
  'embeddingInit',
  'trainEmbedding',
  'generator',
  'classConditionalGenerator',
  'quantization',
  'calibrationBatches',
  'seed',
  'backend',
  'memoryLimitMB',
  'log',
  'warn',
  'signal',
  'onProgress',
  'onSamples',
  'samplesEvery',
  'keepGenerator',
]);

/** The smaller of two optional sizes; null when neither is given. */
function minOrNull(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}

function stripUndefined(options: DataFreeOptions): TrainerOverrides {
  return Object.fromEntries(
    Object.entries(options).filter(([key, value]) => value !== undefined && !OWN_OPTIONS.has(key)),
  ) as TrainerOverrides;
}
