import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';

/**
 * Sets every BatchNormalization layer's moving mean and variance to the statistics of
 * its input over `images` with the final weights, layer by layer in order (each layer's
 * input depends on the statistics before it). Training with a high learning rate leaves
 * moving averages that trail the weights; a data-free quantizer matches exactly these
 * statistics, so the fixture teacher must have ones that describe its data.
 */
export function recomputeBatchNormStatistics(net: LayersModel, images: tf.Tensor, batchSize = 500): void {
  const count = images.shape[0] as number;
  for (const layer of net.layers.filter((l) => l.getClassName() === 'BatchNormalization')) {
    const view = model({ inputs: net.inputs, outputs: layer.input as SymbolicTensor });
    const shape = (layer.input as SymbolicTensor).shape.slice(1) as number[];
    const channels = shape.at(-1) as number;
    const positionsPerImage = shape.slice(0, -1).reduce((n, d) => n * d, 1);
    // Sums in float64: a few million positions would lose digits in float32.
    const sum = new Float64Array(channels);
    const squares = new Float64Array(channels);
    let positions = 0;
    for (let start = 0; start < count; start += batchSize) {
      const size = Math.min(batchSize, count - start);
      const moments = tf.tidy(() => {
        const x = view.predict(tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1])) as tf.Tensor;
        const flat = tf.reshape(x, [-1, channels]);
        return tf.stack([tf.sum(flat, 0), tf.sum(tf.square(flat), 0)]);
      });
      const values = moments.dataSync();
      for (let c = 0; c < channels; c++) {
        sum[c] = (sum[c] as number) + (values[c] as number);
        squares[c] = (squares[c] as number) + (values[channels + c] as number);
      }
      positions += size * positionsPerImage;
      moments.dispose();
    }
    const mean = Array.from(sum, (s) => s / positions);
    const variance = Array.from(squares, (q, c) => q / positions - (mean[c] as number) ** 2);
    tf.tidy(() => {
      const names = layer.weights.map((w) => w.originalName);
      layer.setWeights(
        layer
          .getWeights()
          .map((w, i) =>
            names[i]?.endsWith('/moving_mean')
              ? tf.tensor1d(mean)
              : names[i]?.endsWith('/moving_variance')
                ? tf.tensor1d(variance)
                : w,
          ),
      );
    });
  }
}
