// The worker side of a two-thread SynthesisPool: rebuilds the teacher and synthesizes
// the batches it is sent. Loaded only by spawnSynthesisWorker.
import { parentPort } from 'node:worker_threads';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { modelFromArtifacts } from './model_transfer.js';
import type { SynthesisReply, SynthesisRequest } from './synthesis_pool.js';
import { synthesizeImages } from './synthesize.js';
import { startWorkerBackend } from './worker_backend.js';

const port = parentPort;
if (!port) throw new Error('synthesis_worker must run in a worker thread');
let teacher: LayersModel | null = null;
// The batches being synthesized, by request id: an 'abort' request stops one between steps.
const running = new Map<number, AbortController>();

port.on('message', async ({ id, request }: { id: number; request: SynthesisRequest }) => {
  try {
    if (request.type === 'init') {
      await startWorkerBackend(request.backend, 'synthesis worker');
      teacher = await modelFromArtifacts(request.teacher);
      port.postMessage({ id, result: null } satisfies SynthesisReply);
    } else if (request.type === 'abort') {
      running.get(request.target)?.abort();
      port.postMessage({ id, result: null } satisfies SynthesisReply);
    } else {
      if (!teacher) throw new Error('synthesis worker: not initialised');
      const stop = new AbortController();
      running.set(id, stop);
      try {
        const images = await synthesizeImages(teacher, { ...request.options, signal: stop.signal });
        try {
          const result = { values: (await images.data()) as Float32Array, shape: images.shape };
          port.postMessage({ id, result } satisfies SynthesisReply);
        } finally {
          images.dispose();
        }
      } finally {
        running.delete(id);
      }
    }
  } catch (error) {
    port.postMessage({ id, error: (error as Error).stack ?? String(error) } satisfies SynthesisReply);
  }
});
