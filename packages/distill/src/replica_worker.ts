// The worker side of `workers: 2`: builds a replica from the main thread's models and
// answers its requests in order. Loaded only by spawnReplicaWorker.
import { parentPort } from 'node:worker_threads';
import { activationQuantizers, freezeActivationRanges } from '@qimera/quantizers';
import { ClassEmbedding } from '@qimera/superposition';
import { tensor, tensor2d } from '@tensorflow/tfjs-core';
import { modelFromArtifacts } from './model_transfer.js';
import { Replica } from './replica.js';
import { imageTensors } from './replica_group.js';
import { startWorkerBackend } from './worker_backend.js';
import type { ReplicaInit, WorkerReply, WorkerRequest, WorkerResult } from './worker_protocol.js';

const port = parentPort;
if (!port) throw new Error('replica_worker must run in a worker thread');
let replica: Replica | null = null;

port.on('message', async ({ id, request }: { id: number; request: WorkerRequest }) => {
  try {
    const result = await handle(request);
    port.postMessage({ id, result } satisfies WorkerReply);
  } catch (error) {
    port.postMessage({ id, error: (error as Error).stack ?? String(error) } satisfies WorkerReply);
  }
});

async function handle(request: WorkerRequest): Promise<WorkerResult> {
  if (request.type === 'init') {
    replica = await build(request.init);
    return {};
  }
  if (!replica) throw new Error('replica worker: not initialised');
  switch (request.type) {
    case 'generator': {
      const sums = replica.generatorStep(request.labels, request.noiseSeed);
      return { sums, grads: replica.generatorGradientArrays() };
    }
    case 'images': {
      const { images, targets, shape } = request;
      return { sums: replica.useImages(...imageTensors({ images, targets }, shape)) };
    }
    case 'applyGenerator':
      replica.applyGeneratorGradients(request.rate, request.grads);
      return {};
    case 'student': {
      const sums = replica.studentStep();
      return { sums, grads: replica.studentGradientArrays() };
    }
    case 'applyStudent':
      replica.applyStudentGradients(request.rate, request.grads);
      return {};
    case 'freeze': {
      const quantizers = activationQuantizers(replica.models.student);
      quantizers.forEach((q, i) => {
        const values = request.quantizerWeights[i] as Float32Array[];
        q.setWeights(q.weights.map((w, k) => tensor(values[k] as Float32Array, w.shape as number[])));
      });
      freezeActivationRanges(replica.models.student);
      return {};
    }
    case 'restoreOptimizers':
      await replica.restoreOptimizers(request.states);
      return {};
  }
}

async function build(init: ReplicaInit): Promise<Replica> {
  await startWorkerBackend(init.backend, 'replica worker');
  const [teacher, student, generator, mapping] = await Promise.all([
    modelFromArtifacts(init.teacher),
    modelFromArtifacts(init.student),
    init.generator ? modelFromArtifacts(init.generator) : Promise.resolve(null),
    init.mapping ? modelFromArtifacts(init.mapping) : Promise.resolve(null),
  ]);
  const embedding = init.embedding ? embeddingFrom(init.embedding) : null;
  return new Replica({ teacher, student, generator, embedding, mapping }, init.settings);
}

function embeddingFrom(init: NonNullable<ReplicaInit['embedding']>): ClassEmbedding {
  const table = tensor2d(init.values, init.shape);
  const embedding = ClassEmbedding.fromTable(table, { trainable: init.trainable });
  table.dispose();
  return embedding;
}
