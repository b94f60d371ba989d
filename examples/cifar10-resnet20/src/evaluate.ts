import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { ImageBatch } from 'qimera';

/** Top-1 accuracy on decoded CIFAR-10 images, in batches. */
export function top1(model: LayersModel, data: ImageBatch, batchSize = 500): number {
  let correct = 0;
  const pixels = 32 * 32 * 3;
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start);
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(data.images.subarray(start * pixels, (start + n) * pixels), [n, 32, 32, 3]);
      return tf.argMax(model.predict(x) as tf.Tensor, -1).dataSync();
    });
    predicted.forEach((label, i) => {
      if (label === data.labels[start + i]) correct++;
    });
  }
  return correct / data.count;
}
