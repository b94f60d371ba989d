import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { softCrossEntropy } from 'qimera';

/** Messages between the bench's main thread and its half_worker. */
export type HalfRequest =
  | { type: 'init'; backend: string; weights: Float32Array[]; learningRate: number }
  | { type: 'forward'; images: Float32Array; shape: number[] }
  | { type: 'grads'; images: Float32Array; labels: Float32Array; shape: number[] }
  | { type: 'step'; images: Float32Array; labels: Float32Array; shape: number[] }
  | { type: 'apply'; grads: Float32Array[] };
export type HalfReply = { error: string } | { grads?: Float32Array[] };

/**
 * One thread's share of a data-parallel ResNet-20: a forward, or the cross-entropy
 * gradients of a training step, on the images it is given; and an SGD update with
 * gradients it is given (the average over both threads). The main thread passes its
 * half as tensors; the worker builds tensors from the arrays it is sent.
 */
export class ResNetHalf {
  private readonly variables: tf.Variable[];
  private readonly optimizer: tf.Optimizer;

  constructor(
    readonly net: LayersModel,
    learningRate: number,
  ) {
    this.variables = net.trainableWeights.map((w) => w.read() as tf.Variable);
    this.optimizer = tf.train.sgd(learningRate);
  }

  forward(x: tf.Tensor): void {
    tf.tidy(() => void (this.net.predict(x) as tf.Tensor).dataSync());
  }

  /** Gradients for images `x` and one-hot labels `y`, in trainable-weight order, as arrays to send or average. */
  gradients(x: tf.Tensor, y: tf.Tensor): Float32Array[] {
    const grads = tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => softCrossEntropy(this.net.apply(x, { training: true }) as tf.Tensor, y),
        this.variables,
      );
      return this.variables.map((v) => grads[v.name] as tf.Tensor);
    });
    // Read outside tidy: tidy walks what it returns, a typed array element by element
    // (a tenth of a training step's time for ResNet-20's 270k weights).
    const arrays = grads.map((g) => g.dataSync() as Float32Array);
    tf.dispose(grads);
    return arrays;
  }

  apply(grads: Float32Array[]): void {
    tf.tidy(() =>
      this.optimizer.applyGradients(
        this.variables.map((v, i) => ({ name: v.name, tensor: tf.tensor(grads[i] as Float32Array, v.shape) })),
      ),
    );
  }

  dispose(): void {
    this.optimizer.dispose();
  }
}
