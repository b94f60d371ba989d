import { activationQuantizers, freezeActivationRanges } from '@qimera/quantizers';
import { type ClassEmbedding, type LabelBatch, sliceLabels } from '@qimera/superposition';
import {
  add,
  argMax,
  dispose,
  equal,
  keep,
  mul,
  type NamedTensorMap,
  type Optimizer,
  type Scalar,
  slice,
  sum,
  type Tensor,
  tensor,
  tensor2d,
  tidy,
  train,
  type Variable,
  variableGrads,
} from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { type DistillCheckpoint, optimizerState, restoreOptimizer } from './checkpoint.js';
import { generateFromLabels } from './generate_from_labels.js';
import { batchNormStatisticsLoss, distillationLoss, softCrossEntropy } from './losses.js';
import type { DistillSettings } from './settings.js';
import { TeacherTaps } from './taps.js';

/** The models one trainer replica holds. */
export interface ReplicaModels {
  teacher: LayersModel;
  student: LayersModel;
  /** Null when the images come from an image source. */
  generator: LayersModel | null;
  embedding: ClassEmbedding | null;
  mapping: LayersModel | null;
}

/** Sums over one replica's samples, so replicas' results combine by addition. */
export interface GeneratorStepSums {
  samples: number;
  loss: number;
  crossEntropy: number;
  bns: number;
  /** Samples whose teacher top-1 is their target's top class. */
  agreeing: number;
}

/** Sums over one replica's samples when its images are given. */
export interface ImageStepSums {
  samples: number;
  agreeing: number;
}

/** Sums over one replica's samples for the student step. */
export interface StudentStepSums {
  samples: number;
  loss: number;
  kd: number;
  crossEntropy: number;
}

/** One forward-and-backward pass's images, the teacher's logits on them and their targets. */
interface MicroBatch {
  images: Tensor;
  teacherLogits: Tensor;
  targets: Tensor;
}

/** `[from, to)` sample ranges of at most `size` samples covering `count`; one range without a size. */
function microBatchRanges(count: number, size: number | null): [number, number][] {
  const step = size ?? count;
  const ranges: [number, number][] = [];
  for (let from = 0; from < count; from += step) ranges.push([from, Math.min(count, from + step)]);
  return ranges;
}

/**
 * One copy of everything an iteration touches, with its optimisers: computes the
 * generator and student gradients on a batch and applies gradients (its own, or
 * averaged ones from several replicas). Losses come back weighted by the batch size so
 * replicas' results add up. A batch larger than `settings.microBatchSize` runs as
 * several passes whose gradients are summed, each weighted by its share of the batch.
 */
export class Replica {
  readonly generatorVariables: Variable[];
  readonly studentVariables: Variable[];
  private readonly taps: TeacherTaps;
  private readonly generatorOptimizer: Optimizer;
  private readonly studentOptimizer: Optimizer;
  private batch: MicroBatch[] | null = null;
  private generatorGrads: NamedTensorMap | null = null;
  private studentGrads: NamedTensorMap | null = null;

  constructor(
    readonly models: ReplicaModels,
    private readonly settings: DistillSettings,
  ) {
    this.taps = new TeacherTaps(models.teacher);
    this.generatorVariables = [
      ...(models.generator?.trainableWeights.map((w) => w.read() as Variable) ?? []),
      ...(models.embedding?.trainable ? [models.embedding.table] : []),
      ...(models.mapping?.trainableWeights.map((w) => w.read() as Variable) ?? []),
    ];
    this.studentVariables = models.student.trainableWeights.map((w) => w.read() as Variable);
    this.generatorOptimizer = train.adam(settings.generatorLearningRate, ...settings.generatorBetas);
    this.studentOptimizer = train.momentum(settings.studentLearningRate, settings.studentMomentum, settings.nesterov);
  }

  /**
   * Generates this replica's images, keeps them, and computes the generator gradients.
   * Micro-batch `k` draws its noise from `noiseSeed + k`.
   */
  generatorStep(labels: LabelBatch, noiseSeed: number): GeneratorStepSums {
    this.endBatch();
    const { settings, taps } = this;
    const { generator, embedding, mapping } = this.models;
    if (!generator || !embedding) throw new Error('Replica: generatorStep needs a generator and an embedding');
    this.discardGrads('generator');
    const n = labels.batchSize;
    const sums = { samples: n, loss: 0, crossEntropy: 0, bns: 0, agreeing: 0 };
    const batch: MicroBatch[] = [];
    this.batch = batch;
    microBatchRanges(n, settings.microBatchSize).forEach(([from, to], k) => {
      const part = n === to - from ? labels : sliceLabels(labels, from, to);
      const targets = tensor2d(part.targets, [part.batchSize, part.numClasses]);
      let kept: Tensor[] = [];
      const { value, grads } = variableGrads(() => {
        const images = generateFromLabels({ generator, embedding, mapping }, part, targets, settings, noiseSeed + k);
        const teacher = taps.forward(images);
        const crossEntropy = softCrossEntropy(teacher.logits, targets);
        const bns = batchNormStatisticsLoss(teacher.stats, taps.batchNorms);
        kept = [images, teacher.logits, crossEntropy, bns].map((t) => keep(t));
        return add(crossEntropy, mul(bns, settings.bnsWeight)) as Scalar;
      }, this.generatorVariables);
      const [images, teacherLogits, crossEntropy, bns] = kept as [Tensor, Tensor, Tensor, Tensor];
      batch.push({ images, teacherLogits, targets });
      this.generatorGrads = accumulate(this.generatorGrads, grads, part.batchSize / n);
      const m = part.batchSize;
      sums.agreeing += agreeingSamples(teacherLogits, targets);
      sums.loss += m * (value.dataSync()[0] as number);
      sums.crossEntropy += m * (crossEntropy.dataSync()[0] as number);
      sums.bns += m * (bns.dataSync()[0] as number);
      dispose([value, crossEntropy, bns]);
    });
    return sums;
  }

  /**
   * Keeps given images (NHWC) and targets as this iteration's batch, with the teacher's
   * logits on them, in place of generated ones. Takes ownership of both tensors.
   */
  useImages(images: Tensor, targets: Tensor): ImageStepSums {
    this.endBatch();
    const n = images.shape[0] as number;
    const ranges = microBatchRanges(n, this.settings.microBatchSize);
    const batch: MicroBatch[] = [];
    this.batch = batch;
    let agreeing = 0;
    for (const [from, to] of ranges) {
      const part =
        ranges.length === 1
          ? { images, targets }
          : { images: slice(images, from, to - from), targets: slice(targets, from, to - from) };
      const teacherLogits = tidy(() => this.models.teacher.apply(part.images, { training: false }) as Tensor);
      batch.push({ ...part, teacherLogits });
      agreeing += agreeingSamples(teacherLogits, part.targets);
    }
    if (ranges.length > 1) dispose([images, targets]);
    return { samples: n, agreeing };
  }

  /** The student forward on the kept images, so unfrozen activation ranges observe them. */
  calibrate(): void {
    const batch = this.requireBatch();
    // A student calibrated before training (ranges already frozen) has nothing to observe.
    if (activationQuantizers(this.models.student).every((q) => q.frozen)) return;
    for (const { images } of batch) tidy(() => void this.models.student.apply(images, { training: false }));
  }

  /**
   * Freezes the activation ranges; ranges that never observed a batch (no warm-up)
   * first observe the kept images.
   */
  freezeRanges(): void {
    const unobserved = activationQuantizers(this.models.student).some((q) => q.rangeState().observedBatches === 0);
    if (unobserved && this.batch) this.calibrate();
    freezeActivationRanges(this.models.student);
  }

  /** Computes the student gradients on the kept images and teacher logits. */
  studentStep(): StudentStepSums {
    const batch = this.requireBatch();
    const { settings } = this;
    this.discardGrads('student');
    const n = batch.reduce((total, part) => total + (part.images.shape[0] as number), 0);
    const sums = { samples: n, loss: 0, kd: 0, crossEntropy: 0 };
    for (const { images, teacherLogits, targets } of batch) {
      let parts: Tensor[] = [];
      const { value, grads } = variableGrads(() => {
        const logits = this.models.student.apply(images, { training: false }) as Tensor;
        const kd = distillationLoss(teacherLogits, logits, {
          temperature: settings.temperature,
          alpha: settings.kdAlpha,
          reduction: settings.kdReduction,
        });
        const crossEntropy = softCrossEntropy(logits, targets);
        parts = [keep(kd), keep(crossEntropy)];
        return add(kd, crossEntropy) as Scalar;
      }, this.studentVariables);
      const m = images.shape[0] as number;
      this.studentGrads = accumulate(this.studentGrads, grads, m / n);
      const [kd, crossEntropy] = parts.map((p) => m * (p.dataSync()[0] as number));
      sums.loss += m * (value.dataSync()[0] as number);
      sums.kd += kd as number;
      sums.crossEntropy += crossEntropy as number;
      dispose([value, ...parts]);
    }
    return sums;
  }

  /** The last generator gradients as arrays, in {@link generatorVariables} order. */
  generatorGradientArrays(): Float32Array[] {
    return this.gradientArrays(this.generatorGrads, this.generatorVariables);
  }

  /** The last student gradients as arrays, in {@link studentVariables} order. */
  studentGradientArrays(): Float32Array[] {
    return this.gradientArrays(this.studentGrads, this.studentVariables);
  }

  /** Applies the given generator gradients, or this replica's own last ones. */
  applyGeneratorGradients(rate: number, grads?: Float32Array[]): void {
    setLearningRate(this.generatorOptimizer, rate);
    this.apply(this.generatorOptimizer, this.generatorVariables, grads, this.takeGrads('generator'), 0);
  }

  /** Applies the given student gradients (or its own), plus weight decay. */
  applyStudentGradients(rate: number, grads?: Float32Array[]): void {
    setLearningRate(this.studentOptimizer, rate);
    this.apply(
      this.studentOptimizer,
      this.studentVariables,
      grads,
      this.takeGrads('student'),
      this.settings.weightDecay,
    );
  }

  /** Both optimizers' states, copied out. */
  async optimizerStates(): Promise<DistillCheckpoint['optimizers']> {
    return {
      generator: await optimizerState(this.generatorOptimizer),
      student: await optimizerState(this.studentOptimizer),
    };
  }

  /** Puts saved optimizer states into this replica's (fresh) optimizers. */
  async restoreOptimizers(states: DistillCheckpoint['optimizers']): Promise<void> {
    await restoreOptimizer(this.generatorOptimizer, states.generator);
    await restoreOptimizer(this.studentOptimizer, states.student);
  }

  /** Releases the kept images and logits. */
  endBatch(): void {
    for (const part of this.batch ?? []) dispose([part.images, part.teacherLogits, part.targets]);
    this.batch = null;
  }

  dispose(): void {
    this.endBatch();
    this.discardGrads('generator');
    this.discardGrads('student');
    this.generatorOptimizer.dispose();
    this.studentOptimizer.dispose();
    // MomentumOptimizer.dispose (tfjs 4.22) leaves its SGD base's learning-rate scalar.
    (this.studentOptimizer as unknown as { c?: Tensor }).c?.dispose();
    this.taps.dispose();
  }

  private apply(
    optimizer: Optimizer,
    variables: Variable[],
    given: Float32Array[] | undefined,
    own: NamedTensorMap | null,
    weightDecay: number,
  ): void {
    const update = tidy(() => {
      const out: NamedTensorMap = {};
      variables.forEach((variable, i) => {
        const values = given?.[i];
        const grad = values ? tensor(values, variable.shape) : own?.[variable.name];
        if (!grad) return;
        out[variable.name] = weightDecay > 0 ? add(grad, mul(variable, weightDecay)) : grad;
      });
      return out;
    });
    optimizer.applyGradients(update);
    dispose(Object.values(update));
    if (own) dispose(Object.values(own));
  }

  private gradientArrays(grads: NamedTensorMap | null, variables: Variable[]): Float32Array[] {
    if (!grads) throw new Error('Replica: no gradients computed yet');
    return variables.map((variable) => {
      const grad = grads[variable.name];
      return grad ? (grad.dataSync() as Float32Array) : new Float32Array(variable.size);
    });
  }

  private takeGrads(which: 'generator' | 'student'): NamedTensorMap | null {
    const grads = which === 'generator' ? this.generatorGrads : this.studentGrads;
    if (which === 'generator') this.generatorGrads = null;
    else this.studentGrads = null;
    return grads;
  }

  /** Disposes gradients computed and never applied. */
  private discardGrads(which: 'generator' | 'student'): void {
    dispose(Object.values(this.takeGrads(which) ?? {}));
  }

  private requireBatch(): MicroBatch[] {
    if (!this.batch) throw new Error('Replica: no batch generated yet');
    return this.batch;
  }
}

/** Samples whose top class is their target's top class. */
function agreeingSamples(logits: Tensor, targets: Tensor): number {
  return tidy(() => sum(equal(argMax(logits, -1), argMax(targets, -1))).dataSync()[0] as number);
}

/**
 * `total + share · grads`, variable by variable, disposing what it replaces; the first
 * pass's gradients are kept as they are when they are the whole batch's (share 1).
 */
function accumulate(total: NamedTensorMap | null, grads: NamedTensorMap, share: number): NamedTensorMap {
  if (total === null && share === 1) return grads;
  const sumOf = tidy(() => {
    const out: NamedTensorMap = {};
    for (const [name, grad] of Object.entries(grads)) {
      const scaled = mul(grad, share);
      const previous = total?.[name];
      out[name] = previous ? add(previous, scaled) : scaled;
    }
    return out;
  });
  dispose([...Object.values(grads), ...Object.values(total ?? {})]);
  return sumOf;
}

/**
 * tfjs's SGD-family optimizers (momentum included) apply a cached scalar that only
 * their `setLearningRate` updates; Adam reads `learningRate` at every step and has no
 * setter.
 */
function setLearningRate(optimizer: Optimizer, rate: number): void {
  const target = optimizer as unknown as { learningRate: number; setLearningRate?: (rate: number) => void };
  if (target.learningRate === rate) return;
  if (typeof target.setLearningRate === 'function') target.setLearningRate(rate);
  else target.learningRate = rate;
}
