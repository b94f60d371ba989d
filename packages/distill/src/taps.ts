import { moments, reshape, type Tensor, type Tensor1D, tidy } from '@tensorflow/tfjs-core';
import { type LayersModel, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import { unfusedCopy } from './unfused_copy.js';

/** One teacher BatchNorm layer: its name and running statistics (owned by the taps). */
export interface BatchNormTap {
  layer: string;
  runningMean: Tensor1D;
  runningVariance: Tensor1D;
}

/** Per-channel statistics of one BatchNorm layer's input on a batch. */
export interface BatchStats {
  mean: Tensor1D;
  variance: Tensor1D;
}

/** What one teacher forward gives: logits and the batch statistics of every BN input. */
export interface TeacherForward {
  logits: Tensor;
  stats: BatchStats[];
}

/**
 * A view of a teacher that returns, in one forward, its logits and the input of every
 * BatchNormalization layer (the BN-statistics loss compares their batch mean and
 * variance with the layer's running ones). The view runs on an unfused copy of the
 * teacher (see {@link unfusedCopy}), so differentiating it to its input computes no
 * weight gradients. Dispose it when done (it owns that copy and the running statistics).
 */
export class TeacherTaps {
  readonly batchNorms: BatchNormTap[];
  private readonly copy: LayersModel;
  private readonly view: LayersModel;

  constructor(readonly teacher: LayersModel) {
    const bnLayers = teacher.layers.filter((layer) => layer.getClassName() === 'BatchNormalization');
    if (teacher.outputs.length !== 1) {
      throw new Error(
        `TeacherTaps: teacher '${teacher.name}' must have one output (logits), has ${teacher.outputs.length}`,
      );
    }
    // Everything is checked before anything is allocated, so a refused teacher leaks nothing.
    const statistics = bnLayers.map((layer) => {
      const config = layer.getConfig();
      const axis = config.axis as number | number[];
      if (axis !== -1 && !(Array.isArray(axis) && axis.length === 1 && axis[0] === -1)) {
        const rank = (layer.input as SymbolicTensor).rank;
        if (axis !== rank - 1)
          throw new Error(
            `TeacherTaps: BatchNormalization '${layer.name}' must normalise the last axis, has axis ${JSON.stringify(axis)}`,
          );
      }
      const byName = (suffix: string) => layer.weights.findIndex((w) => w.originalName.endsWith(`/${suffix}`));
      const values = layer.getWeights();
      const mean = values[byName('moving_mean')];
      const variance = values[byName('moving_variance')];
      if (!mean || !variance)
        throw new Error(`TeacherTaps: BatchNormalization '${layer.name}' has no moving statistics`);
      return { layer: layer.name, mean, variance };
    });
    this.copy = unfusedCopy(teacher);
    this.batchNorms = statistics.map(({ layer, mean, variance }) => ({
      layer,
      runningMean: mean.clone() as Tensor1D,
      runningVariance: variance.clone() as Tensor1D,
    }));
    const { copy } = this;
    this.view = model({
      name: `${teacher.name}_taps`,
      inputs: copy.inputs,
      outputs: [
        copy.outputs[0] as SymbolicTensor,
        ...bnLayers.map((layer) => copy.getLayer(layer.name).input as SymbolicTensor),
      ],
    });
  }

  /**
   * Teacher forward in inference mode: logits and, per BN layer, the mean and biased
   * variance of its input per channel over batch and spatial positions.
   */
  forward(images: Tensor): TeacherForward {
    return tidy(() => {
      const outputs = this.view.apply(images, { training: false }) as Tensor[];
      const [logits, ...inputs] = outputs;
      const stats = inputs.map((x) => {
        const channels = x.shape[x.rank - 1] as number;
        const { mean, variance } = moments(reshape(x, [-1, channels]), 0);
        return { mean: mean as Tensor1D, variance: variance as Tensor1D };
      });
      return { logits: logits as Tensor, stats };
    });
  }

  dispose(): void {
    this.copy.dispose();
    for (const tap of this.batchNorms) {
      tap.runningMean.dispose();
      tap.runningVariance.dispose();
    }
  }
}
