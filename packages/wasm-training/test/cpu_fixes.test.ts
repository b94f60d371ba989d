import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../../test-support/backend.js';
import { registerCpuKernelFixes } from '../src/index.js';

const cases: { size: [number, number]; alignCorners: boolean; halfPixelCenters: boolean }[] = [
  { size: [8, 10], alignCorners: false, halfPixelCenters: false },
  { size: [12, 10], alignCorners: false, halfPixelCenters: true },
  { size: [8, 10], alignCorners: true, halfPixelCenters: false },
  { size: [6, 7], alignCorners: false, halfPixelCenters: false },
];

/** <grad, v> and <resize(v), probe>: equal when the gradient is the upsampling's adjoint. */
function adjointPair(c: (typeof cases)[number], batch: number): [number, number] {
  return tf.tidy(() => {
    const resized = (a: tf.Tensor) =>
      tf.image.resizeNearestNeighbor(a as tf.Tensor4D, c.size, c.alignCorners, c.halfPixelCenters);
    const x = tf.randomNormal([batch, 4, 5, 3], 0, 1, 'float32', 71);
    const v = tf.randomNormal([batch, 4, 5, 3], 0, 1, 'float32', 72);
    const probe = tf.randomNormal([batch, ...c.size, 3], 0, 1, 'float32', 73);
    const grad = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(resized(a), probe)))(x);
    return [tf.sum(tf.mul(grad, v)).dataSync()[0], tf.sum(tf.mul(resized(v), probe)).dataSync()[0]] as [number, number];
  });
}

const isAdjoint = ([lhs, rhs]: [number, number]) => Math.abs(lhs - rhs) < 1e-4 * Math.max(1, Math.abs(rhs));

describe('cpu kernel fixes: ResizeNearestNeighborGrad', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it("tfjs-cpu's own kernel is wrong past the first batch element (the reason for the fix)", () => {
    expect(isAdjoint(adjointPair(cases[0] as (typeof cases)[number], 1))).toBe(true);
    expect(isAdjoint(adjointPair(cases[0] as (typeof cases)[number], 2))).toBe(false);
  });

  it('after registration, is the adjoint of the upsampling for every batch element, once registered', () => {
    expect(registerCpuKernelFixes()).toEqual(['ResizeNearestNeighborGrad']);
    expect(registerCpuKernelFixes()).toEqual([]);
    for (const c of cases) {
      expect(isAdjoint(adjointPair(c, 1))).toBe(true);
      expect(isAdjoint(adjointPair(c, 3))).toBe(true);
    }
  });

  it('does not leak tensors', () => {
    registerCpuKernelFixes();
    adjointPair(cases[0] as (typeof cases)[number], 2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) adjointPair(cases[1] as (typeof cases)[number], 2);
    expect(tf.memory().numTensors).toBe(before);
  });
});
