import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { softCrossEntropy } from 'qimera';

/** Messages between the bench's main thread and its half_worker. */
export type HalfRequest =
  | { type: 'init'; backend: string; weights: Float32Array[]; learningRate: number }
  | { type: 'forward'; images: Float32Array; shape: number[] }
  | { type: 'grads'; images: Float32Array; labels: Float32Array; shape: number[] }
  | { type: 'apply'; grads: Float32Array[] };
export type HalfReply = { error: string } | { grads?: Float32Array[] };

/**
 * One thread's share of a data-parallel ResNet-20: a forward, or the cross-entropy
 * gradients of a training step, on the images it is given; and an SGD update with
 * gradients it is given (the average over both threads).
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

  forward(images: Float32Array, shape: number[]): void {
    tf.tidy(() => void (this.net.predict(tf.tensor(images, shape)) as tf.Tensor).dataSync());
  }

  /** Gradients in trainable-weight order, as arrays to send or average. */
  gradients(images: Float32Array, labels: Float32Array, shape: number[]): Float32Array[] {
    return tf.tidy(() => {
      const x = tf.tensor(images, shape);
      const y = tf.tensor2d(labels, [shape[0] as number, labels.length / (shape[0] as number)]);
      const { grads } = tf.variableGrads(
        () => softCrossEntropy(this.net.apply(x, { training: true }) as tf.Tensor, y),
        this.variables,
      );
      return this.variables.map((v) => (grads[v.name] as tf.Tensor).dataSync() as Float32Array);
    });
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
