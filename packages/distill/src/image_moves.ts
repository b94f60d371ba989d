import { concat, reverse, slice, type Tensor } from '@tensorflow/tfjs-core';

/** `images` [n, h, w, c] rolled by `dy` rows and `dx` columns (wrapping around), then mirrored left to right if asked. */
export function moveImages(images: Tensor, dy: number, dx: number, mirror: boolean): Tensor {
  const rolled = roll(roll(images, dy, 1), dx, 2);
  return mirror ? reverse(rolled, 2) : rolled;
}

/** `x` rolled by `shift` along `axis`: element i moves to i + shift, the end wrapping to the start. */
export function roll(x: Tensor, shift: number, axis: number): Tensor {
  const size = x.shape[axis] as number;
  const cut = (((size - shift) % size) + size) % size;
  if (cut === 0) return x;
  const at = (index: number) => x.shape.map((_, i) => (i === axis ? index : 0));
  const sized = (length: number) => x.shape.map((d, i) => (i === axis ? length : d));
  return concat([slice(x, at(cut), sized(size - cut)), slice(x, at(0), sized(cut))], axis);
}
