import type { LabelBatch } from '@qimera/superposition';
import type { io } from '@tensorflow/tfjs-core';
import type { DistillCheckpoint } from './checkpoint.js';
import type { GeneratorStepSums, ImageStepSums, StudentStepSums } from './replica.js';
import type { DistillSettings } from './settings.js';
import type { ChannelReply } from './worker_channel.js';

/** Everything a worker needs to build its replica. */
export interface ReplicaInit {
  backend: string;
  settings: DistillSettings;
  teacher: io.ModelArtifacts;
  student: io.ModelArtifacts;
  generator: io.ModelArtifacts | null;
  mapping: io.ModelArtifacts | null;
  embedding: { values: Float32Array; shape: [number, number]; trainable: boolean } | null;
}

/** Requests from the main thread, each answered once by a {@link WorkerReply}. */
export type WorkerRequest =
  | { type: 'init'; init: ReplicaInit }
  | { type: 'generator'; labels: LabelBatch; noiseSeed: number }
  | { type: 'images'; images: Float32Array; targets: Float32Array; shape: number[] }
  | { type: 'applyGenerator'; rate: number; grads: Float32Array[] }
  | { type: 'student' }
  | { type: 'applyStudent'; rate: number; grads: Float32Array[] }
  | { type: 'freeze'; quantizerWeights: Float32Array[][] }
  | { type: 'restoreOptimizers'; states: DistillCheckpoint['optimizers'] };

export type WorkerResult =
  | { sums: GeneratorStepSums | StudentStepSums; grads: Float32Array[] }
  | { sums: ImageStepSums }
  | Record<string, never>;

export type WorkerReply = ChannelReply<WorkerResult>;
