import { mapSlots } from '@qimera/disentangle';
import { generateImages } from '@qimera/generator';
import { activationQuantizers, freezeActivationRanges } from '@qimera/quantizers';
import {
  type ClassEmbedding,
  type EmbeddingNormalization,
  type LabelBatch,
  SeededRandom,
  sampleLabels,
  superposedLatent,
} from '@qimera/superposition';
import {
  add,
  argMax,
  dispose,
  equal,
  keep,
  mean,
  mul,
  type NamedTensorMap,
  type Optimizer,
  type Scalar,
  type Tensor,
  tensor2d,
  tidy,
  train,
  type Variable,
  variableGrads,
} from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { batchNormStatisticsLoss, distillationLoss, type KdReduction, softCrossEntropy } from './losses.js';
import { multiStepRate } from './schedule.js';
import { TeacherTaps } from './taps.js';

/** Everything the alternating trainer needs; defaults are QIMERA.md's CIFAR settings. */
export interface DistillOptions {
  teacher: LayersModel;
  /** The quantized student (see `quantizeModel`), activation quantizers unfrozen. */
  student: LayersModel;
  generator: LayersModel;
  embedding: ClassEmbedding;
  /** The disentanglement mapping; null or absent trains without it. */
  mapping?: LayersModel | null;
  /** Total iterations to run (the budget). */
  iterations: number;
  /** Default 200. */
  iterationsPerEpoch?: number;
  /** Epochs in which the student only calibrates its activation ranges. Default 4. */
  warmupEpochs?: number;
  /** Default 200. */
  batchSize?: number;
  /** Probability of a superposed batch. Default 0.4 (0: GDFQ). */
  superposeProbability?: number;
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
  /** Epochs at which both learning rates are multiplied by `lrGamma`. Default [100, 200, 300]. */
  lrMilestones?: number[];
  /** Default 0.1. */
  lrGamma?: number;
  /** Seed of labels and noise. Default 1. */
  seed?: number;
  /** Stops cleanly between iterations; the student is still returned usable. */
  signal?: AbortSignal;
  /**
   * Called after every iteration with the student, e.g. to evaluate it at checkpoints
   * (its ranges are frozen once the phase is 'distill'). Time spent here counts in
   * `elapsedMs`.
   */
  onProgress?: (progress: DistillProgress, student: LayersModel) => void;
}

/** Losses of one iteration (student ones are absent during warm-up). */
export interface IterationLosses {
  generator: number;
  crossEntropy: number;
  bns: number;
  student?: number;
  kd?: number;
  studentCrossEntropy?: number;
}

/** Reported after every iteration. */
export interface DistillProgress {
  /** Iterations completed so far (1-based). */
  iteration: number;
  iterations: number;
  epoch: number;
  phase: 'warmup' | 'distill';
  superposed: boolean;
  losses: IterationLosses;
  /** Share of generated samples the teacher assigns to their target's top class. */
  teacherAccuracy: number;
  elapsedMs: number;
  etaMs: number;
}

/** What {@link distill} did. */
export interface DistillResult {
  iterations: number;
  aborted: boolean;
  elapsedMs: number;
  last: DistillProgress | null;
}

/**
 * The Qimera/GDFQ alternating loop. Each iteration: draw labels (superposed with
 * probability p), generate images, update the generator on
 * `L_G = CE_soft(teacher(x), y) + bnsWeight · L_BNS`, then, after the warm-up epochs,
 * update the student on `L_S = KD(teacher(x), student(x)) + CE_soft(student(x), y)`
 * with the same (detached) images and teacher logits. During warm-up the student only
 * runs forward so its activation quantizers calibrate; their ranges are frozen when
 * warm-up ends (or when the run ends or is aborted first; with no warm-up, ranges never
 * observed are calibrated on the first batch). The teacher runs in
 * inference mode and never changes; the student's BatchNorms run in inference mode
 * while their gamma and beta train.
 */
export async function distill(options: DistillOptions): Promise<DistillResult> {
  const settings = resolve(options);
  const taps = new TeacherTaps(options.teacher);
  const rng = new SeededRandom(settings.seed);
  const generatorVars = [
    ...options.generator.trainableWeights.map((w) => w.read() as Variable),
    ...(options.embedding.trainable ? [options.embedding.table] : []),
    ...(options.mapping?.trainableWeights.map((w) => w.read() as Variable) ?? []),
  ];
  const studentVars = options.student.trainableWeights.map((w) => w.read() as Variable);
  const generatorOptimizer = train.adam(settings.generatorLearningRate, ...settings.generatorBetas);
  const studentOptimizer = train.momentum(settings.studentLearningRate, settings.studentMomentum, settings.nesterov);
  const started = Date.now();
  let last: DistillProgress | null = null;
  let done = 0;
  let frozen = false;
  try {
    for (; done < settings.iterations; done++) {
      if (options.signal?.aborted) break;
      const epoch = Math.floor(done / settings.iterationsPerEpoch);
      const rate = (base: number) => multiStepRate(base, epoch, settings.lrMilestones, settings.lrGamma);
      setLearningRate(generatorOptimizer, rate(settings.generatorLearningRate));
      setLearningRate(studentOptimizer, rate(settings.studentLearningRate));
      const warmup = epoch < settings.warmupEpochs;
      const labels = sampleLabels(rng, settings);
      const step = generatorStep(options, settings, taps, labels, rng.nextSeed(), generatorVars, generatorOptimizer);
      const losses: IterationLosses = { generator: step.loss, crossEntropy: step.crossEntropy, bns: step.bns };
      const calibrate = () => tidy(() => void options.student.apply(step.images, { training: false }));
      if (warmup) calibrate();
      else {
        if (!frozen) {
          // Without warm-up, ranges never observed are calibrated on this first batch.
          if (activationQuantizers(options.student).some((q) => q.rangeState().observedBatches === 0)) calibrate();
          freezeActivationRanges(options.student);
          frozen = true;
        }
        Object.assign(losses, studentStep(options, settings, step, studentVars, studentOptimizer));
      }
      dispose([step.images, step.teacherLogits, step.targets]);
      const elapsedMs = Date.now() - started;
      last = {
        iteration: done + 1,
        iterations: settings.iterations,
        epoch,
        phase: warmup ? 'warmup' : 'distill',
        superposed: labels.superposed,
        losses,
        teacherAccuracy: step.teacherAccuracy,
        elapsedMs,
        etaMs: (elapsedMs / (done + 1)) * (settings.iterations - done - 1),
      };
      options.onProgress?.(last, options.student);
      // Let abort signals and other callbacks in between iterations.
      await new Promise((resolveTick) => setImmediate(resolveTick));
    }
  } finally {
    if (!frozen) freezeActivationRanges(options.student);
    generatorOptimizer.dispose();
    studentOptimizer.dispose();
    taps.dispose();
  }
  return { iterations: done, aborted: done < settings.iterations, elapsedMs: Date.now() - started, last };
}

type Settings = ReturnType<typeof resolve>;

interface GeneratorStepResult {
  loss: number;
  crossEntropy: number;
  bns: number;
  teacherAccuracy: number;
  images: Tensor;
  teacherLogits: Tensor;
  targets: Tensor;
}

function generatorStep(
  options: DistillOptions,
  settings: Settings,
  taps: TeacherTaps,
  labels: LabelBatch,
  noiseSeed: number,
  variables: Variable[],
  optimizer: Optimizer,
): GeneratorStepResult {
  const targets = tensor2d(labels.targets, [labels.batchSize, labels.numClasses]);
  let images: Tensor | null = null;
  let teacherLogits: Tensor | null = null;
  let parts: Scalar[] = [];
  const { value, grads } = variableGrads(() => {
    const latent = superposedLatent(labels, options.embedding, {
      noiseScale: settings.noiseScale,
      normalization: settings.embeddingNormalization,
      noiseSeed,
      ...(options.mapping ? { mapSlots: (slots) => mapSlots(options.mapping as LayersModel, slots) } : {}),
    });
    const x = generateImages(options.generator, latent, options.generator.inputs.length === 2 ? targets : undefined);
    const teacher = taps.forward(x);
    const crossEntropy = softCrossEntropy(teacher.logits, targets);
    const bns = batchNormStatisticsLoss(teacher.stats, taps.batchNorms);
    images = keep(x);
    teacherLogits = keep(teacher.logits);
    parts = [keep(crossEntropy), keep(bns)];
    return add(crossEntropy, mul(bns, settings.bnsWeight)) as Scalar;
  }, variables);
  optimizer.applyGradients(grads as NamedTensorMap);
  const [crossEntropy, bns] = parts.map((p) => p.dataSync()[0] as number);
  const loss = value.dataSync()[0] as number;
  const teacherAccuracy = tidy(
    () => mean(equal(argMax(teacherLogits as unknown as Tensor, -1), argMax(targets, -1))).dataSync()[0] as number,
  );
  dispose([value, ...Object.values(grads), ...parts]);
  return {
    loss,
    crossEntropy: crossEntropy as number,
    bns: bns as number,
    teacherAccuracy,
    images: images as unknown as Tensor,
    teacherLogits: teacherLogits as unknown as Tensor,
    targets,
  };
}

function studentStep(
  options: DistillOptions,
  settings: Settings,
  step: GeneratorStepResult,
  variables: Variable[],
  optimizer: Optimizer,
): Pick<IterationLosses, 'student' | 'kd' | 'studentCrossEntropy'> {
  let parts: Scalar[] = [];
  const { value, grads } = variableGrads(() => {
    const logits = options.student.apply(step.images, { training: false }) as Tensor;
    const kd = distillationLoss(step.teacherLogits, logits, {
      temperature: settings.temperature,
      alpha: settings.kdAlpha,
      reduction: settings.kdReduction,
    });
    const crossEntropy = softCrossEntropy(logits, step.targets);
    parts = [keep(kd), keep(crossEntropy)];
    return add(kd, crossEntropy) as Scalar;
  }, variables);
  const decayed = tidy(() => {
    const out: NamedTensorMap = {};
    for (const variable of variables) {
      const grad = grads[variable.name];
      if (grad) out[variable.name] = add(grad, mul(variable, settings.weightDecay));
    }
    return out;
  });
  optimizer.applyGradients(decayed);
  const [kd, crossEntropy] = parts.map((p) => p.dataSync()[0] as number);
  const loss = value.dataSync()[0] as number;
  dispose([value, ...Object.values(grads), ...Object.values(decayed), ...parts]);
  return { student: loss, kd: kd as number, studentCrossEntropy: crossEntropy as number };
}

// tfjs optimizers read `learningRate` at every step but expose no setter for Adam.
function setLearningRate(optimizer: Optimizer, rate: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = rate;
}

function resolve(options: DistillOptions) {
  const settings = {
    iterations: options.iterations,
    iterationsPerEpoch: options.iterationsPerEpoch ?? 200,
    warmupEpochs: options.warmupEpochs ?? 4,
    batchSize: options.batchSize ?? 200,
    numClasses: options.embedding.numClasses,
    superposeProbability: options.superposeProbability ?? 0.4,
    slots: options.slots ?? 2,
    noiseScale: options.noiseScale ?? 1,
    embeddingNormalization: options.embeddingNormalization ?? ('official' as EmbeddingNormalization),
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
    lrMilestones: options.lrMilestones ?? [100, 200, 300],
    lrGamma: options.lrGamma ?? 0.1,
    seed: options.seed ?? 1,
  };
  const positive: (keyof typeof settings)[] = ['iterations', 'iterationsPerEpoch', 'batchSize', 'slots'];
  for (const key of positive) {
    const value = settings[key] as number;
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`distill: ${key} must be a positive integer, got ${value}`);
  }
  if (!Number.isInteger(settings.warmupEpochs) || settings.warmupEpochs < 0) {
    throw new RangeError(`distill: warmupEpochs must be a non-negative integer, got ${settings.warmupEpochs}`);
  }
  for (const key of ['temperature', 'generatorLearningRate', 'studentLearningRate'] as const) {
    if (!(settings[key] > 0)) throw new RangeError(`distill: ${key} must be positive, got ${settings[key]}`);
  }
  return settings;
}
