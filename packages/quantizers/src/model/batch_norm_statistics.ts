import { dispose, reshape, slice, square, stack, sum, type Tensor, tensor1d, tidy } from '@tensorflow/tfjs-core';
import { type LayersModel, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';

/**
 * Sets every BatchNormalization layer's moving mean and variance to the statistics of
 * its input over `images` (population variance, as the layer's own normalisation
 * takes it), with the model's current weights, layer by layer in model order: each
 * layer's input depends on the statistics set before it.
 *
 * For whoever trains a teacher: training with a high learning rate leaves moving
 * averages that trail the final weights, and data-free quantization matches exactly
 * these statistics (synthesized images are made to reproduce them), so a teacher's
 * statistics should describe its data. The examples' fixture teachers end with it.
 *
 * @param net the model, changed in place.
 * @param images `[n, ...inputShape]`, the model's input.
 * @param batchSize images per forward pass. Default 500.
 * @throws RangeError on a bad batch size, an empty image set, a BatchNormalization
 *   layer that does not normalise the last axis or is used more than once, or
 *   statistics that are not finite (the layer is named; layers before it are already set).
 */
export function recomputeBatchNormStatistics(net: LayersModel, images: Tensor, batchSize = 500): void {
  if (!(Number.isInteger(batchSize) && batchSize > 0)) {
    throw new RangeError(`recomputeBatchNormStatistics: batchSize must be a positive integer, got ${batchSize}`);
  }
  const count = images.shape[0] ?? 0;
  if (count === 0) throw new RangeError('recomputeBatchNormStatistics: no images given');
  for (const layer of net.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const axis = (layer.getConfig().axis as number | undefined) ?? -1;
    const input = layer.input;
    if (Array.isArray(input)) {
      throw new RangeError(`recomputeBatchNormStatistics: BatchNormalization '${layer.name}' is used more than once`);
    }
    if (axis !== -1 && axis !== input.shape.length - 1) {
      throw new RangeError(
        `recomputeBatchNormStatistics: BatchNormalization '${layer.name}' normalises axis ${axis}; only the last (channel) axis is supported`,
      );
    }
    const { mean, variance } = inputMoments(model({ inputs: net.inputs, outputs: input as SymbolicTensor }), images, {
      channels: input.shape.at(-1) as number,
      batchSize,
    });
    if (![...mean, ...variance].every(Number.isFinite)) {
      throw new RangeError(`recomputeBatchNormStatistics: the input of '${layer.name}' has non-finite values`);
    }
    tidy(() => {
      const names = layer.weights.map((w) => w.originalName);
      const replaced = layer.getWeights().map((w, i) => {
        if (names[i]?.endsWith('/moving_mean')) return tensor1d(mean);
        if (names[i]?.endsWith('/moving_variance')) return tensor1d(variance);
        return w;
      });
      layer.setWeights(replaced);
    });
  }
}

/** Per-channel mean and population variance of `view`'s output over `images`, summed in float64. */
function inputMoments(
  view: LayersModel,
  images: Tensor,
  { channels, batchSize }: { channels: number; batchSize: number },
): { mean: number[]; variance: number[] } {
  const count = images.shape[0] as number;
  // A few million positions would lose digits in float32 sums.
  const sums = new Float64Array(channels);
  const squares = new Float64Array(channels);
  let positions = 0;
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    const moments = tidy(() => {
      // One batch at a time (slice takes a number as the first axis'): a split of all images would copy them whole.
      const flat = reshape(view.predict(slice(images, start, size)) as Tensor, [-1, channels]);
      positions += flat.shape[0] as number;
      return stack([sum(flat, 0), sum(square(flat), 0)]);
    });
    const values = moments.dataSync();
    dispose(moments);
    for (let c = 0; c < channels; c++) {
      sums[c] = (sums[c] as number) + (values[c] as number);
      squares[c] = (squares[c] as number) + (values[channels + c] as number);
    }
  }
  const mean = Array.from(sums, (s) => s / positions);
  // Clamped at 0: E[x²] - E[x]² of a constant channel can round below it.
  const variance = Array.from(squares, (q, c) => Math.max(0, q / positions - (mean[c] as number) ** 2));
  return { mean, variance };
}
