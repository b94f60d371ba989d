import { concat, dispose, getBackend, type io, type Tensor, tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
// Node: a worker thread; elsewhere (browsers) an error saying workers need Node.
import { spawnSynthesisWorker, workerThreadsAvailable } from '#worker-thread';
import { modelArtifacts } from './model_transfer.js';
import { DEFAULT_SYNTHESIS_BATCH, type SynthesisOptions, synthesizeImages } from './synthesize.js';
import { type ChannelReply, WorkerChannel } from './worker_channel.js';

/** Requests to a synthesis worker, each answered once by a {@link SynthesisReply}. */
export type SynthesisRequest =
  | { type: 'init'; backend: string; teacher: io.ModelArtifacts }
  | { type: 'synthesize'; options: Omit<SynthesisOptions, 'signal'> }
  | { type: 'abort'; target: number };

/** Images as they cross threads. */
export interface ImageArrays {
  values: Float32Array;
  shape: number[];
}

/** A worker's answer: the images of a `synthesize` request, `null` for the others. */
export type SynthesisReply = ChannelReply<ImageArrays | null>;

/** Synthesizes one batch request somewhere: this thread or a worker. */
type Lane = (options: SynthesisOptions) => Promise<Tensor>;

/**
 * Image synthesis on one or two threads: this one, and with `threads: 2` a Node.js worker
 * thread holding a copy of the teacher. Each batch of a {@link synthesize} call runs on
 * whichever thread is free (or waits for one), so two batches, of one call or of calls
 * made at once, are optimised at the same time on two cores. A batch's images depend
 * only on its targets and seed, not on the thread it ran on: a call gives the images
 * `synthesizeImages` gives on this thread, up to the backend's arithmetic.
 */
export class SynthesisPool {
  private readonly idle: Lane[];
  private readonly waiting: ((lane: Lane) => void)[] = [];

  private constructor(
    private readonly teacher: LayersModel,
    private readonly remote: RemoteSynthesis | null,
  ) {
    const local: Lane = (options) => synthesizeImages(this.teacher, options);
    // Popped from the end: this thread is taken first.
    this.idle = remote ? [(options) => remote.synthesize(options), local] : [local];
  }

  /**
   * Starts a pool of `threads` threads for `teacher` (2: starts the worker and copies
   * the teacher into it on the current backend, which must be wasm, cpu or tensorflow).
   * @throws if `threads` is not 1 or 2, or 2 where Node.js worker threads are missing.
   */
  static async start(teacher: LayersModel, threads: number): Promise<SynthesisPool> {
    if (threads !== 1 && threads !== 2) throw new RangeError(`SynthesisPool: threads must be 1 or 2, got ${threads}`);
    if (threads === 1) return new SynthesisPool(teacher, null);
    if (!workerThreadsAvailable) {
      throw new Error('SynthesisPool: 2 threads need Node.js worker threads, which this platform lacks; use 1');
    }
    return new SynthesisPool(teacher, await RemoteSynthesis.start(teacher));
  }

  /** Threads images are synthesized on. */
  get threads(): number {
    return this.remote ? 2 : 1;
  }

  /**
   * `synthesizeImages(teacher, options)`, each batch of `options.batchSize` images on the
   * first thread that is free (the pool's calls share its threads), the images in order.
   * An aborted `signal` stops every batch between steps (the images so far are returned).
   * @returns the images (the caller disposes them).
   */
  async synthesize(options: SynthesisOptions): Promise<Tensor> {
    const classes = this.teacher.outputs[0]?.shape[1] ?? Number.NaN;
    const batchSize = options.batchSize ?? DEFAULT_SYNTHESIS_BATCH;
    const images = options.targets.length / classes;
    // One thread, one batch, or options synthesizeImages refuses (with its message): no split.
    if (!this.remote || !Number.isInteger(images) || images <= batchSize) return this.onFreeThread(options);
    const seed = options.seed ?? 1;
    // The first failure stops the other batches between steps: the call fails without waiting them out.
    const stop = new AbortController();
    const signal = options.signal ? AbortSignal.any([options.signal, stop.signal]) : stop.signal;
    const batches: Promise<Tensor>[] = [];
    for (let start = 0; start < images; start += batchSize) {
      const targets = options.targets.subarray(start * classes, (start + batchSize) * classes);
      const batch = this.onFreeThread({ ...options, targets, seed: seed + start, signal });
      batches.push(
        batch.catch((error: unknown) => {
          stop.abort();
          throw error;
        }),
      );
    }
    const outcomes = await Promise.allSettled(batches);
    const parts = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    try {
      const failure = outcomes.find((outcome) => outcome.status === 'rejected');
      if (failure) throw failure.reason;
      return concat(parts);
    } finally {
      dispose(parts);
    }
  }

  private async onFreeThread(options: SynthesisOptions): Promise<Tensor> {
    const lane = this.idle.pop() ?? (await new Promise<Lane>((take) => this.waiting.push(take)));
    try {
      return await lane(options);
    } finally {
      const next = this.waiting.shift();
      if (next) next(lane);
      else this.idle.push(lane);
    }
  }

  /** Stops the worker (a batch it is synthesizing is rejected). */
  async dispose(): Promise<void> {
    await this.remote?.dispose();
  }
}

/** The worker thread of a two-thread pool. */
class RemoteSynthesis {
  private constructor(private readonly channel: WorkerChannel<SynthesisRequest, ImageArrays | null>) {}

  static async start(teacher: LayersModel): Promise<RemoteSynthesis> {
    const remote = new RemoteSynthesis(new WorkerChannel(spawnSynthesisWorker(), 'synthesis worker'));
    try {
      await remote.channel.call({ type: 'init', backend: getBackend(), teacher: await modelArtifacts(teacher) }).done;
    } catch (error) {
      await remote.dispose();
      throw error;
    }
    return remote;
  }

  async synthesize({ signal, ...options }: SynthesisOptions): Promise<Tensor> {
    const { id, done } = this.channel.call({ type: 'synthesize', options });
    const stop = () => this.channel.call({ type: 'abort', target: id }).done.catch(() => {});
    if (signal?.aborted) stop();
    signal?.addEventListener('abort', stop);
    try {
      const images = await done;
      if (!images) throw new Error('synthesis worker: no images in its answer');
      return tensor(images.values, images.shape);
    } finally {
      signal?.removeEventListener('abort', stop);
    }
  }

  dispose(): Promise<void> {
    return this.channel.close();
  }
}
