// The digits the page bundles (read in Node when the page is built or tested): the first
// held-out digits of each class, split as the MNIST example splits them.
import { MNIST_MEAN, MNIST_STD, rawDigits } from '../mnist/src/digits.js';
import type { DigitBundle } from './src/digits.js';

/** Held-out digits of each class the page bundles to compare predictions on. */
export const DIGITS_PER_CLASS = 10;

/** `perClass` held-out digits of each class, encoded for the page (see `decodeDigits`). */
export function bundledDigits(perClass = DIGITS_PER_CLASS): DigitBundle {
  const { pixels, labels } = rawDigits('heldout', perClass);
  // The package's pixel values have three decimals: thousandths hold them exactly.
  const thousandths = Uint16Array.from(pixels, (p) => Math.round(p * 1000));
  return {
    size: 28,
    mean: MNIST_MEAN,
    std: MNIST_STD,
    labels: Array.from(labels),
    thousandths: Buffer.from(thousandths.buffer).toString('base64'),
  };
}
