import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { DigitSet } from './digits.js';

/** Top-1 accuracy of `model` on a digit set, in batches. */
export function accuracy(model: LayersModel, set: DigitSet, batchSize = 250): number {
  let correct = 0;
  const count = set.labels.length;
  for (let start = 0; start < count; start += batchSize) {
    const size = Math.min(batchSize, count - start);
    const predicted = tf.tidy(() => {
      const batch = tf.slice(set.images, [start, 0, 0, 0], [size, -1, -1, -1]);
      return tf.argMax(model.predict(batch) as tf.Tensor, -1).dataSync();
    });
    predicted.forEach((label, i) => {
      if (label === set.labels[start + i]) correct++;
    });
  }
  return correct / count;
}
