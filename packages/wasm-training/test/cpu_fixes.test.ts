import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../../test-support/backend.js';
import { registerCpuKernelFixes } from '../src/index.js';
import { adjointPair, isAdjoint, RESIZE_CASES, type ResizeCase } from './resize_cases.js';

describe('cpu kernel fixes: ResizeNearestNeighborGrad', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it("tfjs-cpu's own kernel is wrong past the first batch element (the reason for the fix)", () => {
    expect(isAdjoint(adjointPair(RESIZE_CASES[0] as ResizeCase, 1))).toBe(true);
    expect(isAdjoint(adjointPair(RESIZE_CASES[0] as ResizeCase, 2))).toBe(false);
  });

  it('after registration, is the adjoint of the upsampling for every batch element, once registered', () => {
    expect(registerCpuKernelFixes()).toEqual(['ResizeNearestNeighborGrad']);
    expect(registerCpuKernelFixes()).toEqual([]);
    for (const c of RESIZE_CASES) {
      expect(isAdjoint(adjointPair(c, 1))).toBe(true);
      expect(isAdjoint(adjointPair(c, 3))).toBe(true);
    }
  });

  it('does not leak tensors', () => {
    registerCpuKernelFixes();
    adjointPair(RESIZE_CASES[0] as ResizeCase, 2);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) adjointPair(RESIZE_CASES[1] as ResizeCase, 2);
    expect(tf.memory().numTensors).toBe(before);
  });
});
