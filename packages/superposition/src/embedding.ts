import {
  gather,
  randomNormal,
  type Tensor2D,
  tensor1d,
  tidy,
  transpose,
  type Variable,
  variable,
} from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/**
 * The class-embedding table E (numClasses x dim) that seeds the generator input.
 * Owns one variable; dispose it when done.
 */
export class ClassEmbedding {
  readonly table: Variable;

  private constructor(table: Tensor2D, trainable: boolean) {
    this.table = variable(table, trainable);
    table.dispose();
  }

  get numClasses(): number {
    return this.table.shape[0] as number;
  }

  get dim(): number {
    return this.table.shape[1] as number;
  }

  get trainable(): boolean {
    return this.table.trainable;
  }

  /** Random N(0, 1) rows (Qimera's `--randemb`, used by its CIFAR-10 and ImageNet scripts). */
  static random(numClasses: number, dim: number, options: { seed: number; trainable?: boolean }): ClassEmbedding {
    for (const [what, value] of [
      ['numClasses', numClasses],
      ['dim', dim],
    ] as const) {
      if (!Number.isInteger(value) || value < 1)
        throw new RangeError(`ClassEmbedding.random: ${what} must be a positive integer, got ${value}`);
    }
    const table = randomNormal([numClasses, dim], 0, 1, 'float32', options.seed) as Tensor2D;
    return new ClassEmbedding(table, options.trainable ?? true);
  }

  /**
   * One row per class from the classifier's last Dense layer (its kernel is
   * `[features, classes]`, so row c is column c): "information from the FP model", as
   * Qimera's CIFAR-100 script does. The embedding dimension is the feature count.
   *
   * @throws if the model has no Dense layer, or `expectedDim` is given and differs.
   */
  static fromClassifier(
    model: LayersModel,
    options: { expectedDim?: number; trainable?: boolean } = {},
  ): ClassEmbedding {
    const dense = [...model.layers]
      .reverse()
      .find((layer) => layer.getClassName() === 'Dense' || layer.getClassName() === 'QuantizedDense');
    const kernel = dense?.getWeights()[0];
    if (!dense || !kernel || kernel.rank !== 2) {
      throw new Error(
        `ClassEmbedding.fromClassifier: model '${model.name}' has no Dense layer to take class vectors from`,
      );
    }
    const [features, classes] = kernel.shape as [number, number];
    if (options.expectedDim !== undefined && options.expectedDim !== features) {
      throw new Error(
        `ClassEmbedding.fromClassifier: layer '${dense.name}' has ${features} input features, but the embedding ` +
          `needs dim ${options.expectedDim} (kernel ${features}x${classes}); set latentDim to ${features} or use a random embedding`,
      );
    }
    const table = transpose(kernel) as Tensor2D;
    return new ClassEmbedding(table, options.trainable ?? true);
  }

  /** A table with the given values (e.g. a copy of another embedding's). */
  static fromTable(table: Tensor2D, options: { trainable?: boolean } = {}): ClassEmbedding {
    return new ClassEmbedding(table.clone(), options.trainable ?? true);
  }

  /** Rows for the given class ids: `[ids.length, dim]`. */
  lookup(classes: Int32Array): Tensor2D {
    return tidy(() => gather(this.table, tensor1d(classes, 'int32')) as Tensor2D);
  }

  dispose(): void {
    this.table.dispose();
  }
}
