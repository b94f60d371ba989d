import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../../test-support/backend.js';
import { registerWasmTrainingKernels } from '../src/index.js';
import { leadingBlockLength, MAX_POOLED_ROW } from '../src/reduce.js';
import { mergeWholeTrailingAxes } from '../src/slice.js';
import { expectRelativeClose, onBothBackends } from './compare.js';
import { adjointPair, isAdjoint, RESIZE_CASES, resizeGradient } from './resize_cases.js';

beforeAll(() => {
  registerWasmTrainingKernels();
});

/** The kernels (with input shapes) that `f` runs on wasm, nested ones included. */
async function kernelsRun(f: () => tf.Tensor): Promise<{ name: string; inputShapes: number[][] }[]> {
  await tf.setBackend('wasm');
  const info = await tf.profile(() => f());
  return info.kernels.map((k) => ({ name: k.name, inputShapes: k.inputShapes }));
}

describe('Slice on wasm (whole rows from the heap)', () => {
  it('folds the trailing axes taken whole into the last axis cut', () => {
    expect(mergeWholeTrailingAxes([64, 34, 34, 16], [0, 1, 1, 0], [64, 33, 33, 16])).toEqual({
      shape: [64, 34, 544],
      begin: [0, 1, 16],
      size: [64, 33, 528],
    });
    expect(mergeWholeTrailingAxes([2, 3, 4], [1, 0, 0], [1, 3, 4])).toEqual({ shape: [24], begin: [12], size: [12] });
    // The innermost axis is cut: nothing to fold. Nothing cut: one row.
    expect(mergeWholeTrailingAxes([2, 3, 4], [0, 0, 1], [2, 3, 2])).toEqual({
      shape: [2, 3, 4],
      begin: [0, 0, 1],
      size: [2, 3, 2],
    });
    expect(mergeWholeTrailingAxes([2, 3], [0, 0], [2, 3])).toEqual({ shape: [6], begin: [0], size: [6] });
  });

  it('matches cpu: spatial crops, batch cuts, innermost cuts, ranks 1 to 5, ints, bools, whole, empty', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const x = tf.randomNormal([3, 7, 6, 5], 0, 1, 'float32', 21);
      const x5 = tf.randomNormal([2, 3, 4, 5, 6], 0, 1, 'float32', 22);
      const ints = tf.tensor3d([...Array(24).keys()], [2, 3, 4], 'int32');
      return [
        tf.slice(x, [0, 1, 2, 0], [3, 5, 3, 5]),
        tf.slice(x, [1, 0, 0, 0], [2, 7, 6, 5]),
        tf.slice(x, [0, 2, 0, 0], [3, 1, 6, 5]),
        tf.slice(x, [1, 1, 1, 1], [1, 2, 3, 3]),
        tf.slice(x5, [1, 0, 1, 2, 0], [1, 3, 2, 3, 6]),
        tf.slice(tf.range(0, 10), [3], [4]),
        tf.cast(tf.slice(ints, [0, 1, 0], [2, 2, 4]), 'float32'),
        tf.cast(tf.slice(tf.greater(x, 0), [0, 2, 1, 0], [3, 3, 4, 5]), 'float32'),
        tf.slice(x, [0, 0, 0, 0], [3, 7, 6, 5]),
        tf.slice(x, [1, 2, 0, 0], [2, 0, 6, 5]),
      ];
    });
    expectRelativeClose(cpu, wasm);
  });

  it('makes the gradient of pad (a slice) match cpu', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const x = tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 23);
      const probe = tf.randomNormal([2, 8, 6, 3], 0, 1, 'float32', 24);
      const padded = (a: tf.Tensor) =>
        tf.pad(a, [
          [0, 0],
          [1, 2],
          [0, 1],
          [0, 0],
        ]);
      return [tf.grad((a: tf.Tensor) => tf.sum(tf.mul(padded(a), probe)))(x)];
    });
    expectRelativeClose(cpu, wasm);
  });
});

describe('Sum and Mean on wasm (leading axes as one average pooling)', () => {
  it('recognises a leading block of axes in any order', () => {
    expect(leadingBlockLength([0, 1, 2])).toBe(3);
    expect(leadingBlockLength([2, 0, 1])).toBe(3);
    expect(leadingBlockLength([0])).toBe(1);
    expect(leadingBlockLength([1, 2])).toBe(0);
    expect(leadingBlockLength([0, 2])).toBe(0);
    expect(leadingBlockLength([])).toBe(0);
  });

  it('matches cpu: leading, negative, middle, innermost and all axes, keepDims, ints', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const x = tf.randomNormal([8, 16, 16, 4], 0.5, 1, 'float32', 31);
      const m = tf.randomNormal([5, 3], 0, 1, 'float32', 32);
      const ints = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], 'int32');
      const results: tf.Tensor[] = [];
      for (const reduce of [tf.sum, tf.mean]) {
        results.push(
          reduce(x, [0, 1, 2]),
          reduce(x, [0, 1, 2], true),
          reduce(x, [-4, -3]),
          reduce(x, 0),
          reduce(m, 0, true),
          reduce(x, [1, 2]),
          reduce(x, 3),
          reduce(x),
          tf.cast(reduce(ints, 0), 'float32'),
        );
      }
      const { mean, variance } = tf.moments(x, [0, 1, 2]);
      return [...results, mean, variance];
    });
    expectRelativeClose(cpu, wasm);
  });

  it('reduces leading axes by AvgPool, innermost ones with the original kernel', async () => {
    const x = tf.randomNormal([4, 3, 3, 2]);
    const leading = await kernelsRun(() => tf.sum(x, [0, 1, 2]));
    expect(leading.filter((k) => k.name === 'AvgPool').map((k) => k.inputShapes[0])).toEqual([[1, 36, 1, 2]]);
    const innermost = await kernelsRun(() => tf.mean(x, [3]));
    expect(innermost.map((k) => k.name)).not.toContain('AvgPool');
    x.dispose();
  });

  it('sums rows wider than XNNPACK pools safely with the original kernel, correctly and without corrupting the heap', async () => {
    await tf.setBackend('wasm');
    // [8, 25088] over axis 0: the first generator layer's weight gradient at 56x56; pooled, it crashed.
    const x = tf.add(tf.zeros([1, 8, MAX_POOLED_ROW * 3]), tf.reshape(tf.range(0, 8), [1, 8, 1]));
    const wide = await kernelsRun(() => tf.sum(x, [0, 1]));
    expect(wide.map((k) => k.name)).not.toContain('AvgPool');
    for (let i = 0; i < 3; i++) {
      const [sum, square] = [tf.sum(x, [0, 1]), tf.sum(tf.square(tf.ones([64, 1024])))];
      const values = sum.dataSync();
      expect([values[0], values[values.length - 1], values.length]).toEqual([28, 28, MAX_POOLED_ROW * 3]);
      expect(square.dataSync()[0]).toBe(65536);
      tf.dispose([sum, square]);
    }
    const narrow = await kernelsRun(() => tf.sum(tf.slice(x, [0, 0, 0], [1, 8, MAX_POOLED_ROW]), [0, 1]));
    expect(narrow.map((k) => k.name)).toContain('AvgPool');
    x.dispose();
  });

  it('gives each view of one tensor its own result (no operand cached by tensor id)', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d([...Array(24).keys()], [2, 3, 2, 2]);
    expect(Array.from(tf.sum(x, [0, 1, 2]).dataSync())).toEqual([132, 144]);
    expect(Array.from(tf.sum(x, [0, 1]).dataSync())).toEqual([60, 66, 72, 78]);
    expect(Array.from(tf.sum(x, 0).dataSync())).toEqual([12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34]);
    expect(Array.from(tf.mean(tf.reshape(x, [6, 4]), 0).dataSync())).toEqual([10, 11, 12, 13]);
    x.dispose();
  });

  it('makes the BatchNorm-in-training gradient (moments + batchNorm) match cpu', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const x = tf.randomNormal([4, 6, 6, 5], 0, 1, 'float32', 33);
      const gamma = tf.randomUniform([5], 0.5, 1.5, 'float32', 34);
      // tfjs's gradient bookkeeping fails on a batchNorm without offset: pass one.
      const beta = tf.randomNormal([5], 0, 1, 'float32', 36);
      const probe = tf.randomNormal([4, 6, 6, 5], 0, 1, 'float32', 35);
      const f = (a: tf.Tensor, g: tf.Tensor) => {
        const { mean, variance } = tf.moments(a, [0, 1, 2]);
        const normed = tf.batchNorm(a as tf.Tensor4D, mean, variance, beta, g as tf.Tensor1D, 1e-3);
        return tf.sum(tf.mul(normed, probe));
      };
      return tf.grads(f)([x, gamma]);
    });
    expectRelativeClose(cpu, wasm);
  });
});

describe('Identity on wasm (shared data)', () => {
  it('gives a tensor that shares the data buffer and survives its source', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor1d([1, 2, 3]);
    const buffers = (tf.memory() as { numDataBuffers: number }).numDataBuffers;
    const copy = tf.clone(x);
    expect((tf.memory() as { numDataBuffers: number }).numDataBuffers).toBe(buffers);
    x.dispose();
    expect(Array.from(copy.dataSync())).toEqual([1, 2, 3]);
    copy.dispose();
    expect((tf.memory() as { numDataBuffers: number }).numDataBuffers).toBe(buffers - 1);
  });
});

describe('Cast on wasm (shared data when the dtype stays)', () => {
  const buffers = () => (tf.memory() as { numDataBuffers: number }).numDataBuffers;

  it('to the same dtype shares the data buffer and survives its source', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor1d([1.5, -2, 3]);
    const before = buffers();
    const same = tf.cast(x, 'float32');
    expect(buffers()).toBe(before);
    x.dispose();
    expect(Array.from(same.dataSync())).toEqual([1.5, -2, 3]);
    same.dispose();
    expect(buffers()).toBe(before - 1);
  });

  it('to another dtype converts into a new buffer; numbers to bool are x != 0', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor1d([1.75, -2.5, 0]);
    const before = buffers();
    const asInt = tf.cast(x, 'int32');
    const asBool = tf.cast(x, 'bool');
    expect(buffers()).toBe(before + 2);
    expect(asInt.dtype).toBe('int32');
    expect(Array.from(asInt.dataSync())).toEqual([1, -2, 0]);
    expect(asBool.dtype).toBe('bool');
    expect(Array.from(asBool.dataSync())).toEqual([1, 1, 0]);
    expect(tf.tidy(() => Array.from(tf.cast(tf.tensor1d([-3, 0, 256], 'int32'), 'bool').dataSync()))).toEqual([
      1, 0, 1,
    ]);
    tf.dispose([x, asInt, asBool]);
  });
});

describe('the replaced kernels', () => {
  it('do not leak tensors or bytes across training-like steps', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal([4, 7, 7, 3]);
    const gamma = tf.ones([3]);
    const beta = tf.zeros([3]);
    const step = () =>
      tf.tidy(() => {
        tf.grads((a: tf.Tensor, g: tf.Tensor) => {
          const { mean, variance } = tf.moments(a, [0, 1, 2]);
          const normed = tf.batchNorm(a as tf.Tensor4D, mean, variance, beta, g as tf.Tensor1D, 1e-3);
          return tf.sum(tf.slice(tf.clone(normed), [0, 1, 1, 0], [4, 5, 5, 3]));
        })([x, gamma]);
      });
    step();
    const { numTensors, numBytes } = tf.memory();
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(numTensors);
    expect(tf.memory().numBytes).toBe(numBytes);
    tf.dispose([x, gamma, beta]);
  });
});

describe('BatchMatMul with a transposed operand on wasm (transpose, then XNNPACK)', () => {
  it('matches cpu for each transpose, batch-1 ranks 2 and 3, and batched products (original kernel)', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const a = tf.randomNormal([5, 3], 0, 1, 'float32', 51);
      const b = tf.randomNormal([5, 4], 0, 1, 'float32', 52);
      const c = tf.randomNormal([3, 4], 0, 1, 'float32', 53);
      const e = tf.randomNormal([4, 5], 0, 1, 'float32', 59);
      const a3 = tf.randomNormal([2, 5, 3], 0, 1, 'float32', 54);
      const b3 = tf.randomNormal([2, 5, 4], 0, 1, 'float32', 55);
      return [
        tf.matMul(a, b, true, false),
        tf.matMul(b, c, false, true),
        tf.matMul(a, e, true, true),
        tf.matMul(tf.reshape(a, [1, 5, 3]), tf.reshape(b, [1, 5, 4]), true, false),
        tf.matMul(a3, b3, true, false),
      ];
    });
    expectRelativeClose(cpu, wasm);
  });

  it("makes a Dense layer's gradients match cpu", async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const x = tf.randomNormal([6, 7], 0, 1, 'float32', 56);
      const w = tf.randomNormal([7, 9], 0, 1, 'float32', 57);
      const probe = tf.randomNormal([6, 9], 0, 1, 'float32', 58);
      return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a, b), probe)))([x, w]);
    });
    expectRelativeClose(cpu, wasm);
  });

  it('gives two views of one right operand their own results (tfjs-wasm caches its operand by id)', async () => {
    await tf.setBackend('wasm');
    const values = tf.tensor1d([1, 2, 3, 4, 5, 6]);
    // Column sums as aᵀ·b, with b viewed as 3x2, then as 2x3 (one tensor id).
    const first = tf.matMul(tf.ones([3, 1]), tf.reshape(values, [3, 2]), true, false);
    const second = tf.matMul(tf.ones([2, 1]), tf.reshape(values, [2, 3]), true, false);
    expect(Array.from(first.dataSync())).toEqual([9, 12]);
    expect(Array.from(second.dataSync())).toEqual([5, 7, 9]);
    tf.dispose([values, first, second]);
  });
});

describe('ResizeNearestNeighborGrad on wasm (average pooling for whole factors)', () => {
  // tfjs-cpu 4.22's kernel reads dy at the images' batch stride, so it is right for batch 1 only.
  it('matches cpu (batch 1) for factors 2x2 and 3x2, half-pixel centres, aligned corners and fractions', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const x = tf.randomNormal([1, 4, 5, 3], 0, 1, 'float32', 61);
      return RESIZE_CASES.map((c) => resizeGradient(c, x, tf.randomNormal([1, ...c.size, 3], 0, 1, 'float32', 62)));
    });
    expectRelativeClose(cpu, wasm);
  });

  it('is the adjoint of the upsampling for batch 2: <grad, v> = <resize(v), probe>', async () => {
    await tf.setBackend('wasm');
    for (const c of RESIZE_CASES) expect(isAdjoint(adjointPair(c, 2))).toBe(true);
  });

  it('runs the whole-factor gradient as one AvgPool', async () => {
    const x = tf.randomNormal([1, 3, 3, 2]);
    const kernels = await kernelsRun(() =>
      tf.grad((a: tf.Tensor) => tf.sum(tf.image.resizeNearestNeighbor(a as tf.Tensor4D, [6, 6])))(x),
    );
    expect(kernels.filter((k) => k.name === 'AvgPool').map((k) => k.inputShapes[0])).toEqual([[1, 6, 6, 2]]);
    x.dispose();
  });
});
