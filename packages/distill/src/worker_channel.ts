import type { Worker } from 'node:worker_threads';

/** A worker's answer to the request with the same id. */
export type ChannelReply<Result> = { id: number; result: Result } | { id: number; error: string };

type Pending<Result> = { resolve: (result: Result) => void; reject: (error: Error) => void };

/**
 * Requests to a worker thread, each answered once (`{ id, request }` in,
 * {@link ChannelReply} out). A worker error or exit rejects every pending request and
 * every later one, so nothing waits forever on a dead worker.
 */
export class WorkerChannel<Request, Result> {
  private readonly pending = new Map<number, Pending<Result>>();
  private nextId = 0;
  private failure: Error | null = null;

  /** @param name names the worker in errors ('synthesis worker: ...'). */
  constructor(
    private readonly worker: Worker,
    private readonly name: string,
  ) {
    worker.on('message', (reply: ChannelReply<Result>) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if ('error' in reply) waiting?.reject(new Error(`${name}: ${reply.error}`));
      else waiting?.resolve(reply.result);
    });
    worker.on('error', (error) => this.fail(new Error(`${name} failed: ${error.message}`)));
    worker.on('exit', (code) => this.fail(new Error(`${name} exited (code ${code})`)));
  }

  /** Sends `request`; `done` settles with the worker's answer. */
  call(request: Request): { id: number; done: Promise<Result> } {
    const id = this.nextId++;
    if (this.failure) return { id, done: Promise.reject(this.failure) };
    const done = new Promise<Result>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, request });
    });
    return { id, done };
  }

  /** Rejects what is pending and stops the worker. */
  async close(): Promise<void> {
    this.fail(new Error(`${this.name}: disposed`));
    await this.worker.terminate();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiting of this.pending.values()) waiting.reject(this.failure);
    this.pending.clear();
  }
}
