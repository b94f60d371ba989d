import { createDisentanglementMapping } from '@qimera/disentangle';
import {
  type DistillOptions,
  type DistillProgress,
  distill,
  type IterationLosses,
  resolveSettings,
} from '@qimera/distill';
import { createGenerator, GENERATOR_DEFAULTS, type GeneratorOptions } from '@qimera/generator';
import { calibrateActivationRanges, type QuantizeModelConfig, quantizeModel } from '@qimera/quantizers';
import { ClassEmbedding, SeededRandom } from '@qimera/superposition';
import { dispose, getBackend, randomNormal, type Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { useFastestBackend } from './backend.js';
import { methodDefaults, type SchedulePreset } from './defaults.js';
import { inspectClassifier } from './validate.js';

/** The data-free methods. */
export type DataFreeMethod = 'qimera' | 'gdfq' | 'minmax';
/** The methods {@link quantizeDataFree} runs. */
export const DATA_FREE_METHODS: readonly DataFreeMethod[] = ['qimera', 'gdfq', 'minmax'];

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
   * `'gdfq'`: plain class embeddings, no mapping. `'minmax'`: no generator; activation
   * ranges from N(0, 1) images, the naive data-free baseline.
   */
  method?: DataFreeMethod;
  /**
   * Schedule defaults: `'paper'` (default, QIMERA.md's) or `'short'` (for CPU budgets of
   * minutes to an hour); see {@link SchedulePreset}. Trainer options given explicitly
   * override the preset's values.
   */
  preset?: SchedulePreset;
  /** Iteration budget. Default 80,000 (400 epochs of 200, the official schedule). */
  iterations?: number;
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
  /** Generator architecture overrides (sizes come from the model). */
  generator?: Pick<GeneratorOptions, 'baseChannels' | 'bnEpsilon' | 'firstBnEpsilon' | 'leakySlope' | 'upsampling'>;
  /** Class-conditional BN generator. Default: only for ImageNet-scale models. */
  classConditionalGenerator?: boolean;
  /** Quantizer settings beyond the bit widths (schemes, observers, per-layer overrides). */
  quantization?: Omit<QuantizeModelConfig, 'weightBits' | 'activationBits'>;
  /** 'minmax': number of N(0, 1) calibration batches. Default 4. */
  calibrationBatches?: number;
  /**
   * tfjs backend: 'auto' (default) switches to the fastest available one (see
   * `useFastestBackend`) and logs the choice; 'current' keeps the active backend; any
   * other name selects that backend.
   */
  backend?: string;
  /** Where the backend choice is logged. Default `console.log`. */
  log?: (message: string) => void;
  /**
   * Return the trained generator, embedding table and mapping (the caller disposes
   * them), e.g. to look at the images it learned. Default false: they are disposed.
   */
  keepGenerator?: boolean;
  /** Makes a run reproducible on the same backend. Default 1. */
  seed?: number;
  signal?: AbortSignal;
  /** After every iteration, with the student (see `DistillOptions.onProgress`). */
  onProgress?: (progress: DistillProgress, student: LayersModel) => void;
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
}

/**
 * Quantizes a trained classifier without data. Returns the fake-quantized student
 * (activation ranges frozen, ready for inference and saving) and a report; `model`
 * itself is not changed.
 *
 * @throws if the model is not an NHWC image classifier (with BatchNorm layers, for
 *   'qimera' and 'gdfq'), or an option is invalid; each problem is named.
 */
export async function quantizeDataFree(
  model: LayersModel,
  options: DataFreeOptions,
): Promise<{ model: LayersModel; report: DataFreeReport; generator?: TrainedGenerator }> {
  const started = Date.now();
  const method = options.method ?? 'qimera';
  if (!DATA_FREE_METHODS.includes(method)) {
    throw new Error(`quantizeDataFree: method must be 'qimera', 'gdfq' or 'minmax', got ${JSON.stringify(method)}`);
  }
  const shape = inspectClassifier(model, { needsGenerator: method !== 'minmax' });
  const backend = options.backend ?? 'auto';
  if (backend !== 'current') {
    await useFastestBackend({
      ...(backend === 'auto' ? {} : { prefer: backend }),
      ...(options.log ? { log: options.log } : {}),
    });
  }
  const preset = options.preset ?? 'paper';
  const defaults = methodDefaults(shape.numClasses, Math.max(shape.height, shape.width), preset);
  const seed = options.seed ?? 1;
  const student = await quantizeModel(model, {
    ...options.quantization,
    weightBits: options.weightBits,
    activationBits: options.activationBits,
  });
  const report = (
    settings: Record<string, unknown>,
    iterations: number,
    aborted: boolean,
    finalLosses: IterationLosses | null,
  ) => ({
    model: student,
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
    },
  });

  if (method === 'minmax') {
    const batches = options.calibrationBatches ?? 4;
    const batchSize = options.batchSize ?? defaults.batchSize;
    const rng = new SeededRandom(seed);
    const noise: Tensor[] = Array.from({ length: batches }, () =>
      randomNormal([batchSize, shape.height, shape.width, shape.channels], 0, 1, 'float32', rng.nextSeed()),
    );
    try {
      await calibrateActivationRanges(student, noise);
    } finally {
      dispose(noise);
    }
    return report({ calibrationBatches: batches, batchSize, seed }, 0, false, null);
  }

  const useMapping = method === 'qimera' && (options.mapping ?? true);
  const latentDim = options.latentDim ?? defaults.latentDim;
  const intermediateDim = options.intermediateDim ?? 100;
  const classConditional = options.classConditionalGenerator ?? defaults.classConditionalGenerator;
  const generator = createGenerator({
    ...options.generator,
    imageSize: [shape.height, shape.width],
    channels: shape.channels,
    inputDim: useMapping ? intermediateDim : latentDim,
    ...(classConditional ? { classConditional: { numClasses: shape.numClasses } } : {}),
    seed,
  });
  const trainEmbedding = options.trainEmbedding ?? true;
  const embedding =
    options.embeddingInit === 'classifier'
      ? ClassEmbedding.fromClassifier(model, { expectedDim: latentDim, trainable: trainEmbedding })
      : ClassEmbedding.random(shape.numClasses, latentDim, { seed, trainable: trainEmbedding });
  const mapping = useMapping ? createDisentanglementMapping({ latentDim, intermediateDim, seed }) : null;
  // Set once the caller owns the generator parts (keepGenerator after a good run).
  let handedOver = false;
  const trainer: DistillOptions = {
    batchSize: defaults.batchSize,
    iterationsPerEpoch: defaults.iterationsPerEpoch,
    warmupEpochs: defaults.warmupEpochs,
    studentLearningRate: defaults.studentLearningRate,
    studentLrSchedule: defaults.studentLrSchedule,
    superposeAfter: defaults.superposeAfter,
    slots: defaults.slots,
    ...stripUndefined(options),
    ...(method === 'gdfq' ? { superposeProbability: 0 } : {}),
    iterations: options.iterations ?? 80_000,
    teacher: model,
    student,
    generator,
    embedding,
    mapping,
    seed,
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
  };
  try {
    const result = await distill(trainer);
    const settings = {
      preset,
      ...resolveSettings(trainer),
      latentDim,
      mapping: useMapping,
      intermediateDim: useMapping ? intermediateDim : null,
      embeddingInit: options.embeddingInit ?? 'random',
      classConditionalGenerator: classConditional,
      generator: { ...GENERATOR_DEFAULTS, ...options.generator },
    };
    const done = report(settings, result.iterations, result.aborted, result.last?.losses ?? null);
    handedOver = options.keepGenerator ?? false;
    return handedOver ? { ...done, generator: { generator, embedding, mapping } } : done;
  } catch (error) {
    student.dispose();
    throw error;
  } finally {
    if (!handedOver) {
      generator.dispose();
      embedding.dispose();
      mapping?.dispose();
    }
  }
}

// Options the umbrella handles itself are not trainer settings.
const OWN_OPTIONS = new Set([
  'weightBits',
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
  'log',
  'signal',
  'onProgress',
  'keepGenerator',
]);

function stripUndefined(options: DataFreeOptions): TrainerOverrides {
  return Object.fromEntries(
    Object.entries(options).filter(([key, value]) => value !== undefined && !OWN_OPTIONS.has(key)),
  ) as TrainerOverrides;
}
