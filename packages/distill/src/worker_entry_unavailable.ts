import type { Worker } from 'node:worker_threads';

/** Whether `workers: 2` can run here: not without Node's worker threads (browsers). */
export const workerThreadsAvailable = false;

/** Never called here: settings refuse `workers: 2` where {@link workerThreadsAvailable} is false. */
export function spawnReplicaWorker(): Worker {
  return unavailable();
}

/** Never called here: a `SynthesisPool` of two threads is refused where {@link workerThreadsAvailable} is false. */
export function spawnSynthesisWorker(): Worker {
  return unavailable();
}

function unavailable(): never {
  throw new Error('distill: worker threads are not available on this platform');
}
