import type { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { weightedAverage } from 'qimera';
import { spawnModuleWorker } from 'qimera/node';
import { type HalfReply, type HalfRequest, ResNetHalf } from './resnet_half.js';

/**
 * A ResNet-20 split data-parallel over this thread and one worker thread (each with
 * its own backend): every batch is cut in halves, both halves run at once, and for a
 * training step both threads apply the batch-weighted average of their gradients, so
 * their weights stay equal. BatchNorm normalises each half on its own, as multi-device
 * training without synchronised BatchNorm does.
 */
export class TwoThreadResNet {
  private constructor(
    private readonly local: ResNetHalf,
    private readonly worker: Worker,
  ) {}

  /** Starts the worker with a copy of `net`'s weights. */
  static async start(net: LayersModel, backend: string, learningRate: number): Promise<TwoThreadResNet> {
    const group = new TwoThreadResNet(
      new ResNetHalf(net, learningRate),
      spawnModuleWorker(new URL('./half_worker.ts', import.meta.url)),
    );
    const weights = net.getWeights().map((w) => w.dataSync() as Float32Array);
    try {
      await group.call({ type: 'init', backend, weights, learningRate });
    } catch (error) {
      await group.dispose();
      throw error;
    }
    return group;
  }

  async forward(x: tf.Tensor): Promise<void> {
    const [mine, theirs] = halves(x);
    try {
      const remote = this.call({ type: 'forward', images: theirs.dataSync() as Float32Array, shape: theirs.shape });
      this.local.forward(mine);
      await remote;
    } finally {
      tf.dispose([mine, theirs]);
    }
  }

  async trainStep(x: tf.Tensor, y: tf.Tensor): Promise<void> {
    const [[mine, theirs], [myLabels, theirLabels]] = [halves(x), halves(y)];
    try {
      const remote = this.call({
        type: 'grads',
        images: theirs.dataSync() as Float32Array,
        labels: theirLabels.dataSync() as Float32Array,
        shape: theirs.shape,
      });
      const local = this.local.gradients(mine, myLabels);
      const other = (await remote).grads as Float32Array[];
      const averaged = weightedAverage([local, other], [mine.shape[0] as number, theirs.shape[0] as number]);
      const applied = this.call({ type: 'apply', grads: averaged });
      this.local.apply(averaged);
      await applied;
    } finally {
      tf.dispose([mine, theirs, myLabels, theirLabels]);
    }
  }

  /**
   * This thread runs `local` while the worker runs the same bench on a copy of the
   * half batch `x` / `y`, with nothing exchanged (a training step applies each thread's
   * own gradients): what the machine gives two independent threads.
   */
  async independentHalves(
    bench: 'forward' | 'train-step',
    x: tf.Tensor,
    y: tf.Tensor,
    local: () => void,
  ): Promise<void> {
    const images = x.dataSync() as Float32Array;
    const remote =
      bench === 'forward'
        ? this.call({ type: 'forward', images, shape: x.shape })
        : this.call({ type: 'step', images, labels: y.dataSync() as Float32Array, shape: x.shape });
    local();
    await remote;
  }

  async dispose(): Promise<void> {
    this.local.dispose();
    await this.worker.terminate();
  }

  /** One request at a time: the reply, or the worker's error as a rejection. */
  private call(request: HalfRequest): Promise<{ grads?: Float32Array[] }> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(new Error(`bench worker failed: ${error.message}`));
      this.worker.once('error', onError);
      this.worker.once('message', (reply: HalfReply) => {
        this.worker.off('error', onError);
        if ('error' in reply) reject(new Error(`bench worker: ${reply.error}`));
        else resolve(reply);
      });
      this.worker.postMessage(request);
    });
  }
}

/** The first and second half of a batch along axis 0 (the first gets the odd sample). */
function halves(x: tf.Tensor): [tf.Tensor, tf.Tensor] {
  const n = x.shape[0] as number;
  const first = Math.ceil(n / 2);
  return [tf.slice(x, 0, first), tf.slice(x, first, n - first)];
}
