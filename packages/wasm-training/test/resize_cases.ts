import * as tf from '@tensorflow/tfjs-core';

/** Nearest-neighbour upsamplings of a [n, 4, 5, 3] input: whole and fractional factors, both pixel conventions. */
export const RESIZE_CASES: { size: [number, number]; alignCorners: boolean; halfPixelCenters: boolean }[] = [
  { size: [8, 10], alignCorners: false, halfPixelCenters: false },
  { size: [12, 10], alignCorners: false, halfPixelCenters: false },
  { size: [8, 10], alignCorners: false, halfPixelCenters: true },
  { size: [8, 10], alignCorners: true, halfPixelCenters: false },
  { size: [6, 7], alignCorners: false, halfPixelCenters: false },
];
export type ResizeCase = (typeof RESIZE_CASES)[number];

export function resized(a: tf.Tensor, c: ResizeCase): tf.Tensor {
  return tf.image.resizeNearestNeighbor(a as tf.Tensor4D, c.size, c.alignCorners, c.halfPixelCenters);
}

/** The gradient of <resize(x), probe> with respect to x, at x. */
export function resizeGradient(c: ResizeCase, x: tf.Tensor, probe: tf.Tensor): tf.Tensor {
  return tf.grad((a: tf.Tensor) => tf.sum(tf.mul(resized(a, c), probe)))(x);
}

/**
 * <grad, v> and <resize(v), probe> on the current backend: equal when the gradient is
 * the upsampling's adjoint, whatever v.
 */
export function adjointPair(c: ResizeCase, batch: number): [number, number] {
  return tf.tidy(() => {
    const x = tf.randomNormal([batch, 4, 5, 3], 0, 1, 'float32', 71);
    const v = tf.randomNormal([batch, 4, 5, 3], 0, 1, 'float32', 72);
    const probe = tf.randomNormal([batch, ...c.size, 3], 0, 1, 'float32', 73);
    const grad = resizeGradient(c, x, probe);
    return [tf.sum(tf.mul(grad, v)).dataSync()[0], tf.sum(tf.mul(resized(v, c), probe)).dataSync()[0]] as [
      number,
      number,
    ];
  });
}

export const isAdjoint = ([lhs, rhs]: [number, number]): boolean =>
  Math.abs(lhs - rhs) < 1e-4 * Math.max(1, Math.abs(rhs));
