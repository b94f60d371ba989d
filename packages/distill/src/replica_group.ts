import type { LabelBatch } from '@qimera/superposition';
import { type Tensor, tensor, tensor2d } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { DistillCheckpoint } from './checkpoint.js';
import type { ImageBatchArrays } from './image_source.js';
import {
  type GeneratorStepSums,
  type ImageStepSums,
  Replica,
  type ReplicaModels,
  type StudentStepSums,
} from './replica.js';
import type { DistillSettings } from './settings.js';

/** Losses averaged over the whole batch, and the teacher's agreement with the targets. */
export interface GeneratorStepResult {
  loss: number;
  crossEntropy: number;
  bns: number;
  teacherAccuracy: number;
}

export interface StudentStepResult {
  loss: number;
  kd: number;
  crossEntropy: number;
}

/** The replicas one iteration runs on: one in this thread, or several threads in step. */
export interface ReplicaGroup {
  /** The student the caller sees (progress callbacks, the result). */
  readonly student: LayersModel;
  /** Generates, computes and applies the generator update; keeps the images. */
  generatorStep(labels: LabelBatch, noiseSeeds: number[], rate: number): Promise<GeneratorStepResult>;
  /** Keeps given images (shape `[n, h, w, c]`) as the batch instead of generating one. */
  imageStep(batch: ImageBatchArrays, shape: number[]): Promise<{ teacherAccuracy: number }>;
  /** Student forwards on the kept images, so unfrozen ranges observe them. */
  calibrate(): Promise<void>;
  /** Freezes activation ranges (calibrating never-observed ones first) everywhere. */
  freezeRanges(): Promise<void>;
  /** Computes and applies the student update on the kept images. */
  studentStep(rate: number): Promise<StudentStepResult>;
  /** The optimizers' states (the same in every replica). */
  optimizerStates(): Promise<DistillCheckpoint['optimizers']>;
  /** Puts saved optimizer states into every replica. */
  restoreOptimizers(states: DistillCheckpoint['optimizers']): Promise<void>;
  dispose(): Promise<void>;
}

/** The single-thread group: one replica that applies its own gradients. */
export class LocalReplicaGroup implements ReplicaGroup {
  private readonly replica: Replica;

  constructor(models: ReplicaModels, settings: DistillSettings) {
    this.replica = new Replica(models, settings);
  }

  get student(): LayersModel {
    return this.replica.models.student;
  }

  async generatorStep(labels: LabelBatch, noiseSeeds: number[], rate: number): Promise<GeneratorStepResult> {
    const sums = this.replica.generatorStep(labels, noiseSeeds[0] as number);
    this.replica.applyGeneratorGradients(rate);
    return averageGenerator([sums]);
  }

  async imageStep(batch: ImageBatchArrays, shape: number[]): Promise<{ teacherAccuracy: number }> {
    return teacherAccuracy([this.replica.useImages(...imageTensors(batch, shape))]);
  }

  async calibrate(): Promise<void> {
    this.replica.calibrate();
  }

  async freezeRanges(): Promise<void> {
    this.replica.freezeRanges();
  }

  async studentStep(rate: number): Promise<StudentStepResult> {
    const sums = this.replica.studentStep();
    this.replica.applyStudentGradients(rate);
    return averageStudent([sums]);
  }

  optimizerStates(): Promise<DistillCheckpoint['optimizers']> {
    return this.replica.optimizerStates();
  }

  restoreOptimizers(states: DistillCheckpoint['optimizers']): Promise<void> {
    return this.replica.restoreOptimizers(states);
  }

  async dispose(): Promise<void> {
    this.replica.dispose();
  }
}

/** Batch-weighted averages of replicas' generator sums. */
export function averageGenerator(parts: GeneratorStepSums[]): GeneratorStepResult {
  const n = parts.reduce((a, p) => a + p.samples, 0);
  const total = (key: 'loss' | 'crossEntropy' | 'bns' | 'agreeing') => parts.reduce((a, p) => a + p[key], 0) / n;
  return {
    loss: total('loss'),
    crossEntropy: total('crossEntropy'),
    bns: total('bns'),
    teacherAccuracy: total('agreeing'),
  };
}

/** Images and targets as tensors: `[n, h, w, c]` and `[n, classes]`. */
export function imageTensors(batch: ImageBatchArrays, shape: number[]): [Tensor, Tensor] {
  const n = shape[0] as number;
  return [tensor(batch.images, shape), tensor2d(batch.targets, [n, batch.targets.length / n])];
}

/** The teacher's agreement with the targets over all replicas' samples. */
export function teacherAccuracy(parts: ImageStepSums[]): { teacherAccuracy: number } {
  const n = parts.reduce((a, p) => a + p.samples, 0);
  return { teacherAccuracy: parts.reduce((a, p) => a + p.agreeing, 0) / n };
}

/** Batch-weighted averages of replicas' student sums. */
export function averageStudent(parts: StudentStepSums[]): StudentStepResult {
  const n = parts.reduce((a, p) => a + p.samples, 0);
  const total = (key: 'loss' | 'kd' | 'crossEntropy') => parts.reduce((a, p) => a + p[key], 0) / n;
  return { loss: total('loss'), kd: total('kd'), crossEntropy: total('crossEntropy') };
}
