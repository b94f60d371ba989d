import { activationQuantizers } from '@qimera/quantizers';
import { type LabelBatch, sliceLabels } from '@qimera/superposition';
import { getBackend } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
// Node: a worker thread; elsewhere (browsers) an error saying workers need Node.
import { spawnReplicaWorker } from '#worker-thread';
import type { DistillCheckpoint } from './checkpoint.js';
import type { ImageBatchArrays } from './image_source.js';
import { modelArtifacts } from './model_transfer.js';
import {
  type GeneratorStepSums,
  type ImageStepSums,
  Replica,
  type ReplicaModels,
  type StudentStepSums,
} from './replica.js';
import {
  averageGenerator,
  averageStudent,
  type GeneratorStepResult,
  imageTensors,
  type ReplicaGroup,
  type StudentStepResult,
  teacherAccuracy,
} from './replica_group.js';
import type { DistillSettings } from './settings.js';
import { WorkerChannel } from './worker_channel.js';
import type { WorkerRequest, WorkerResult } from './worker_protocol.js';

/**
 * Two replicas in step: this thread's and a worker thread's, each on half of every
 * batch. Both compute gradients; the batch-weighted average is applied on both, so
 * their weights stay identical. A worker error or exit rejects the pending step (no
 * hang); the worker is terminated on dispose.
 */
export class WorkerReplicaGroup implements ReplicaGroup {
  private constructor(
    private readonly replica: Replica,
    private readonly channel: WorkerChannel<WorkerRequest, WorkerResult>,
  ) {}

  /** Starts the worker and copies every model into it. */
  static async start(models: ReplicaModels, settings: DistillSettings): Promise<WorkerReplicaGroup> {
    const channel = new WorkerChannel<WorkerRequest, WorkerResult>(spawnReplicaWorker(), 'distill worker');
    const group = new WorkerReplicaGroup(new Replica(models, settings), channel);
    try {
      const [teacher, student, generator, mapping] = await Promise.all([
        modelArtifacts(models.teacher),
        modelArtifacts(models.student),
        models.generator ? modelArtifacts(models.generator) : Promise.resolve(null),
        models.mapping ? modelArtifacts(models.mapping) : Promise.resolve(null),
      ]);
      const table = models.embedding?.table;
      await group.call({
        type: 'init',
        init: {
          backend: getBackend(),
          settings,
          teacher,
          student,
          generator,
          mapping,
          embedding:
            table && models.embedding
              ? {
                  values: table.dataSync() as Float32Array,
                  shape: table.shape as [number, number],
                  trainable: models.embedding.trainable,
                }
              : null,
        },
      });
    } catch (error) {
      await group.dispose();
      throw error;
    }
    return group;
  }

  get student(): LayersModel {
    return this.replica.models.student;
  }

  async generatorStep(labels: LabelBatch, noiseSeeds: number[], rate: number): Promise<GeneratorStepResult> {
    const [mine, theirs] = splitLabels(labels);
    const sums = await this.averagedStep<GeneratorStepSums>(
      { type: 'generator', labels: theirs, noiseSeed: noiseSeeds[1] as number },
      () => ({
        sums: this.replica.generatorStep(mine, noiseSeeds[0] as number),
        grads: this.replica.generatorGradientArrays(),
      }),
      (grads) => [{ type: 'applyGenerator', rate, grads }, () => this.replica.applyGeneratorGradients(rate, grads)],
    );
    return averageGenerator(sums);
  }

  async imageStep(batch: ImageBatchArrays, shape: number[]): Promise<{ teacherAccuracy: number }> {
    const n = shape[0] as number;
    const first = Math.ceil(n / 2);
    const [pixels, classes] = [batch.images.length / n, batch.targets.length / n];
    const half = (from: number, to: number) => ({
      images: batch.images.slice(from * pixels, to * pixels),
      targets: batch.targets.slice(from * classes, to * classes),
    });
    const theirs = half(first, n);
    const pendingRemote = this.call({ type: 'images', ...theirs, shape: [n - first, ...shape.slice(1)] });
    const mine = this.replica.useImages(...imageTensors(half(0, first), [first, ...shape.slice(1)]));
    const other = (await pendingRemote) as { sums: ImageStepSums };
    return teacherAccuracy([mine, other.sums]);
  }

  // Only this thread's ranges matter: they are copied to the worker when frozen.
  async calibrate(): Promise<void> {
    this.replica.calibrate();
  }

  async freezeRanges(): Promise<void> {
    this.replica.freezeRanges();
    const quantizerWeights = activationQuantizers(this.student).map((q) =>
      q.getWeights().map((w) => w.dataSync() as Float32Array),
    );
    await this.call({ type: 'freeze', quantizerWeights });
  }

  async studentStep(rate: number): Promise<StudentStepResult> {
    const sums = await this.averagedStep<StudentStepSums>(
      { type: 'student' },
      () => ({ sums: this.replica.studentStep(), grads: this.replica.studentGradientArrays() }),
      (grads) => [{ type: 'applyStudent', rate, grads }, () => this.replica.applyStudentGradients(rate, grads)],
    );
    return averageStudent(sums);
  }

  /**
   * One data-parallel step: the worker computes on its half while this thread computes
   * on its own; the batch-weighted average of both gradients is then applied on both.
   */
  private async averagedStep<S extends { samples: number }>(
    remote: WorkerRequest,
    computeLocal: () => { sums: S; grads: Float32Array[] },
    applyEverywhere: (grads: Float32Array[]) => [WorkerRequest, () => void],
  ): Promise<S[]> {
    const pendingRemote = this.call(remote);
    const local = computeLocal();
    const other = (await pendingRemote) as unknown as { sums: S; grads: Float32Array[] };
    const averaged = weightedAverage([local.grads, other.grads], [local.sums.samples, other.sums.samples]);
    const [request, applyLocal] = applyEverywhere(averaged);
    const applied = this.call(request);
    applyLocal();
    await applied;
    return [local.sums, other.sums];
  }

  // Both replicas applied the same averaged gradients, so this thread's states are the worker's.
  optimizerStates(): Promise<DistillCheckpoint['optimizers']> {
    return this.replica.optimizerStates();
  }

  async restoreOptimizers(states: DistillCheckpoint['optimizers']): Promise<void> {
    const remote = this.call({ type: 'restoreOptimizers', states });
    await this.replica.restoreOptimizers(states);
    await remote;
  }

  async dispose(): Promise<void> {
    this.replica.dispose();
    await this.channel.close();
  }

  private call(request: WorkerRequest): Promise<WorkerResult> {
    return this.channel.call(request).done;
  }
}

/** The first and second half of a label batch (the first gets the odd sample). */
export function splitLabels(labels: LabelBatch): [LabelBatch, LabelBatch] {
  const first = Math.ceil(labels.batchSize / 2);
  return [sliceLabels(labels, 0, first), sliceLabels(labels, first, labels.batchSize)];
}

/** Σ_r w_r · g_r / Σ_r w_r, element by element, for each gradient tensor. */
export function weightedAverage(replicas: Float32Array[][], weights: number[]): Float32Array[] {
  const total = weights.reduce((a, w) => a + w, 0);
  return (replicas[0] as Float32Array[]).map((_, k) => {
    const out = new Float32Array((replicas[0] as Float32Array[])[k]?.length ?? 0);
    replicas.forEach((grads, r) => {
      const share = (weights[r] as number) / total;
      const g = grads[k] as Float32Array;
      for (let i = 0; i < out.length; i++) out[i] = (out[i] as number) + share * (g[i] as number);
    });
    return out;
  });
}
