import { argMax, type Tensor, type Tensor4D, tensor4d, tidy } from '@tensorflow/tfjs-core';
import type { ImageBatch } from './cifar10.js';

/**
 * Top-1 accuracy of a classifier on decoded images, in batches: the share of images
 * whose largest output is their label. `predict` gets NHWC batches and returns logits
 * (or probabilities); pass `(x) => model.predict(x) as Tensor` for a LayersModel.
 * Every tensor made here is disposed.
 */
export function top1Accuracy(predict: (x: Tensor4D) => Tensor, data: ImageBatch, batchSize = 500): number {
  if (!(Number.isInteger(batchSize) && batchSize > 0)) {
    throw new RangeError(`top1Accuracy: batchSize must be a positive integer, got ${batchSize}`);
  }
  const [, height, width, channels] = data.shape;
  const pixels = height * width * channels;
  let correct = 0;
  for (let start = 0; start < data.count; start += batchSize) {
    const n = Math.min(batchSize, data.count - start);
    const predicted = tidy(() => {
      const x = tensor4d(data.images.subarray(start * pixels, (start + n) * pixels), [n, height, width, channels]);
      return argMax(predict(x), -1).dataSync();
    });
    predicted.forEach((label, i) => {
      if (label === data.labels[start + i]) correct++;
    });
  }
  return data.count === 0 ? 0 : correct / data.count;
}
