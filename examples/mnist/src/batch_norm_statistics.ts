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
    let sum: tf.Tensor | null = null;
    let squares: tf.Tensor | null = null;
    let positions = 0;
    for (let start = 0; start < count; start += batchSize) {
      const size = Math.min(batchSize, count - start);
      const [s, q, n] = tf.tidy(() => {
        const x = view.predict(tf.slice(images, [start, 0, 0, 0], [size, -1, -1, -1])) as tf.Tensor;
        const flat = tf.reshape(x, [-1, x.shape[x.rank - 1] as number]);
        return [tf.sum(flat, 0), tf.sum(tf.square(flat), 0), tf.scalar(flat.shape[0] as number)];
      });
      positions += (n as tf.Tensor).dataSync()[0] as number;
      const nextSum: tf.Tensor = sum ? tf.add(sum, s as tf.Tensor) : (s as tf.Tensor);
      const nextSquares: tf.Tensor = squares ? tf.add(squares, q as tf.Tensor) : (q as tf.Tensor);
      if (sum) tf.dispose([sum, s as tf.Tensor]);
      if (squares) tf.dispose([squares, q as tf.Tensor]);
      tf.dispose(n as tf.Tensor);
      sum = nextSum;
      squares = nextSquares;
    }
    tf.tidy(() => {
      const mean = tf.div(sum as tf.Tensor, positions);
      const variance = tf.sub(tf.div(squares as tf.Tensor, positions), tf.square(mean));
      const weights = layer.getWeights();
      const names = layer.weights.map((w) => w.originalName);
      layer.setWeights(
        weights.map((w, i) =>
          names[i]?.endsWith('/moving_mean') ? mean : names[i]?.endsWith('/moving_variance') ? variance : w,
        ),
      );
    });
    tf.dispose([sum as tf.Tensor, squares as tf.Tensor]);
  }
}
