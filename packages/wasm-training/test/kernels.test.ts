import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import '../../../test-support/backend.js';
import { channelsPerImage } from '../src/conv2d_backprop_filter.js';
import { phaseTaps } from '../src/conv2d_backprop_input.js';
import {
  registerWasmTrainingKernels,
  restoreWasmKernels,
  WASM_FASTER_KERNELS,
  WASM_TRAINING_KERNELS,
} from '../src/index.js';
import { broadcastFactors } from '../src/tile.js';
import { expectRelativeClose, onBothBackends } from './compare.js';

beforeAll(() => {
  registerWasmTrainingKernels();
});

type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

/** Gradients of a weighted sum of `op(x, w)` with respect to both inputs. */
type Shape4 = [number, number, number, number];

function gradsOf(op: (x: tf.Tensor4D, w: tf.Tensor4D) => tf.Tensor4D, xShape: Shape4, wShape: Shape4) {
  return () => {
    const x = tf.randomNormal(xShape, 0, 1, 'float32', 1) as tf.Tensor4D;
    const w = tf.randomNormal(wShape, 0, 1, 'float32', 2) as tf.Tensor4D;
    const probe = (y: tf.Tensor) => tf.randomNormal(y.shape, 0, 1, 'float32', 3);
    const loss = (a: tf.Tensor, b: tf.Tensor) => {
      const y = op(a as tf.Tensor4D, b as tf.Tensor4D);
      return tf.sum(tf.mul(y, probe(y)));
    };
    const [dx, dw] = tf.grads(loss)([x, w]);
    return [op(x, w), dx as tf.Tensor, dw as tf.Tensor];
  };
}

describe('Conv2DBackpropFilter on wasm matches cpu', () => {
  // inChannels 3, 6 and 8 run the filter gradient with 1, 2 and 4 channels per image.
  const cases: {
    k: number;
    s: number | [number, number];
    pad: Pad;
    size: [number, number];
    batch: number;
    inChannels: number;
  }[] = [];
  for (const k of [1, 3, 5]) {
    for (const s of [1, 2]) {
      for (const pad of ['same', 'valid'] as const) cases.push({ k, s, pad, size: [9, 7], batch: 2, inChannels: 3 });
      cases.push({ k, s, pad: 'same', size: [7, 6], batch: 2, inChannels: 8 });
    }
  }
  cases.push({
    k: 3,
    s: 2,
    pad: [
      [0, 0],
      [1, 0],
      [2, 1],
      [0, 0],
    ],
    size: [8, 11],
    batch: 1,
    inChannels: 4,
  });
  cases.push({ k: 3, s: 1, pad: 'same', size: [1, 5], batch: 1, inChannels: 3 });
  cases.push({ k: 3, s: 1, pad: 'valid', size: [5, 6], batch: 3, inChannels: 6 });
  cases.push({ k: 5, s: 2, pad: 'same', size: [5, 5], batch: 3, inChannels: 3 });
  // Stride 3 (3 x 3 input-gradient phases), and unequal strides (the zero-stuffed input gradient).
  cases.push({ k: 3, s: 3, pad: 'same', size: [10, 8], batch: 2, inChannels: 4 });
  cases.push({ k: 5, s: 3, pad: 'valid', size: [11, 13], batch: 1, inChannels: 3 });
  cases.push({ k: 3, s: [2, 1], pad: 'same', size: [9, 7], batch: 2, inChannels: 4 });
  for (const c of cases) {
    it(`k${c.k} s${JSON.stringify(c.s)} ${JSON.stringify(c.pad)} ${c.size.join('x')} batch ${c.batch} in ${c.inChannels}`, async () => {
      const op = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.conv2d(x, w, c.s, c.pad);
      const { cpu, wasm } = await onBothBackends(
        gradsOf(op, [c.batch, ...c.size, c.inChannels], [c.k, c.k, c.inChannels, 4]),
      );
      expectRelativeClose(cpu, wasm);
    });
  }

  it('puts 1, 2 or 4 input channels in one image so that its output pixels fill tiles of 4', () => {
    expect(channelsPerImage(16, 9)).toBe(4); // 36 pixels
    expect(channelsPerImage(6, 9)).toBe(2); // 18 pixels: 4 channels do not divide 6
    expect(channelsPerImage(3, 9)).toBe(1);
    expect(channelsPerImage(32, 1)).toBe(4); // 1x1 filters: 4 pixels
    expect(channelsPerImage(32, 4)).toBe(1); // 2x2 filters fill a tile alone
    expect(channelsPerImage(10, 6)).toBe(2); // 1x6 (or 2x3): 12 pixels
  });

  it('splits a strided input gradient into phases with the taps each needs', () => {
    // 3x3, stride 2, no padding before: phase 0 takes taps 0 and 2 (d = 0, 1), phase 1 tap 1 (d = 0).
    expect(phaseTaps(3, 2, 0)).toEqual({ first: 0, last: 1 });
    // padding 1 before: phase 0 takes tap 1 (d = 0), phase 1 taps 0 and 2 (d = -1, 0).
    expect(phaseTaps(3, 2, 1)).toEqual({ first: -1, last: 0 });
    expect(phaseTaps(1, 2, 0)).toEqual({ first: 0, last: 0 });
    expect(phaseTaps(5, 2, 2)).toEqual({ first: -1, last: 1 });
    expect(phaseTaps(3, 3, 1)).toEqual({ first: -1, last: 0 });
  });

  it('fused conv2d with bias and ReLU (the layers API path) trains on wasm', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const x = tf.randomNormal([2, 6, 6, 3], 0, 1, 'float32', 4);
      const w = tf.randomNormal([3, 3, 3, 5], 0, 1, 'float32', 5);
      const b = tf.randomNormal([5], 0, 1, 'float32', 6);
      const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(
          tf.square(
            tf.fused.conv2d({
              x: xx as tf.Tensor4D,
              filter: ww as tf.Tensor4D,
              bias: bb,
              strides: 2,
              pad: 'same',
              activation: 'relu',
            }),
          ),
        );
      return tf.grads(f)([x, w, b]);
    });
    expectRelativeClose(cpu, wasm);
  });
});

describe('depthwise convolution gradients on wasm match cpu', () => {
  const cases: { k: number; m: number; s: number; d: number; pad: Pad; size: [number, number]; batch: number }[] = [];
  for (const k of [1, 3, 5]) {
    for (const m of [1, 2]) {
      for (const s of [1, 2]) cases.push({ k, m, s, d: 1, pad: 'same', size: [7, 9], batch: 2 });
    }
  }
  cases.push({ k: 3, m: 2, s: 2, d: 1, pad: 'valid', size: [9, 9], batch: 1 });
  cases.push({
    k: 3,
    m: 2,
    s: 2,
    d: 1,
    pad: [
      [0, 0],
      [0, 2],
      [1, 1],
      [0, 0],
    ],
    size: [6, 7],
    batch: 1,
  });
  for (const c of cases) {
    it(`k${c.k} m${c.m} s${c.s} d${c.d} ${JSON.stringify(c.pad)} ${c.size.join('x')} batch ${c.batch}`, async () => {
      const op = (x: tf.Tensor4D, w: tf.Tensor4D) => tf.depthwiseConv2d(x, w, c.s, c.pad, 'NHWC', c.d);
      const { cpu, wasm } = await onBothBackends(gradsOf(op, [c.batch, ...c.size, 3], [c.k, c.k, 3, c.m]));
      expectRelativeClose(cpu, wasm);
    });
  }
});

describe('depthwise backprop kernels with dilation (tfjs has no gradient path for it)', () => {
  // Reference: a dilated 3x3 filter is a 5x5 filter with zeros between the taps. Its
  // dilation-1 gradients on cpu give dx, and dW at the taps. (The cpu backprop kernels
  // themselves ignore dilation, so they cannot serve as the reference here.)
  for (const c of [
    { m: 1, pad: 'same', size: [9, 8] },
    { m: 2, pad: 'valid', size: [9, 9] },
  ] as const) {
    it(`k3 m${c.m} d2 ${c.pad} ${c.size.join('x')}, against the zero-stuffed 5x5 filter`, async () => {
      const inputs = () => {
        const x = tf.randomNormal([2, ...c.size, 3], 0, 1, 'float32', 9) as tf.Tensor4D;
        const w = tf.randomNormal([3, 3, 3, c.m], 0, 1, 'float32', 10) as tf.Tensor4D;
        const outShape = tf.depthwiseConv2d(x, w, 1, c.pad, 'NHWC', 2).shape;
        return { x, w, dy: tf.randomNormal(outShape, 0, 1, 'float32', 11) as tf.Tensor4D };
      };
      await tf.setBackend('cpu');
      const reference = tf.tidy(() => {
        const { x, w, dy } = inputs();
        const spread = tf.pad(tf.reshape(w, [3, 1, 3, 1, 3, c.m]), [
          [0, 0],
          [0, 1],
          [0, 0],
          [0, 1],
          [0, 0],
          [0, 0],
        ]);
        const stuffed = tf.slice(tf.reshape(spread, [6, 6, 3, c.m]), [0, 0, 0, 0], [5, 5, 3, c.m]) as tf.Tensor4D;
        const [dx, dStuffed] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(tf.depthwiseConv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, c.pad), dy)),
        )([x, stuffed]);
        const dw = tf.reshape(
          tf.gather(tf.reshape(dStuffed as tf.Tensor, [25, 3 * c.m]), [0, 2, 4, 10, 12, 14, 20, 22, 24]),
          [3, 3, 3, c.m],
        );
        return [dw, dx as tf.Tensor].map((t) => t.dataSync() as Float32Array);
      });
      await tf.setBackend('wasm');
      const onWasm = tf.tidy(() => {
        const { x, w, dy } = inputs();
        const attrs = { strides: 1, dilations: 2, pad: c.pad };
        const run = (name: string, named: tf.NamedTensorMap, extra: object) =>
          tf.engine().runKernel(name, named, { ...attrs, ...extra } as never) as tf.Tensor;
        return [
          run('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { filterShape: w.shape }),
          run('DepthwiseConv2dNativeBackpropInput', { dy, filter: w }, { inputShape: x.shape }),
        ].map((t) => t.dataSync() as Float32Array);
      });
      expectRelativeClose(reference, onWasm);
    });
  }
});

describe('UnsortedSegmentSum on wasm', () => {
  it('matches cpu, for floats, ints, repeated and out-of-range ids', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const x = tf.randomNormal([6, 2, 3], 0, 1, 'float32', 7);
      const ids = tf.tensor1d([0, 3, 3, 1, -1, 5], 'int32');
      const ints = tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8], [4, 2], 'int32');
      return [
        tf.unsortedSegmentSum(x, ids, 4),
        tf.cast(tf.unsortedSegmentSum(ints, tf.tensor1d([2, 0, 2, 1], 'int32'), 3), 'float32'),
      ];
    });
    expectRelativeClose(cpu, wasm);
    // Hand-computed: rows 0 and 2 go to segment 2, row 1 to 0, row 3 to 1.
    expect(Array.from(wasm[1] as Float32Array)).toEqual([3, 4, 7, 8, 6, 8]);
  });

  it('makes gather (embedding lookup) differentiable', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const table = tf.randomNormal([5, 4], 0, 1, 'float32', 8);
      const ids = tf.tensor1d([4, 1, 4, 0], 'int32');
      return [tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, ids))))(table)];
    });
    expectRelativeClose(cpu, wasm);
  });
});

describe('Tile on wasm (broadcasting add)', () => {
  it('merges the output factors: [r0, d0, r1, d1, ...] without 1s, neighbours of a kind joined', () => {
    expect(broadcastFactors([1, 1, 1, 16], [64, 32, 32, 1])).toEqual([
      { size: 65536, rep: true },
      { size: 16, rep: false },
    ]);
    expect(broadcastFactors([2, 3], [1, 4])).toEqual([
      { size: 2, rep: false },
      { size: 4, rep: true },
      { size: 3, rep: false },
    ]);
    expect(broadcastFactors([1], [1])).toEqual([{ size: 1, rep: false }]);
  });

  it('matches cpu for floats (fast path), ints and many-factor layouts (original kernel)', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const x = tf.randomNormal([2, 1, 3], 0, 1, 'float32', 12);
      const many = tf.randomNormal([2, 2, 2, 2], 0, 1, 'float32', 13);
      return [
        tf.tile(x, [3, 4, 2]),
        tf.tile(tf.randomNormal([1, 1, 1, 5], 0, 1, 'float32', 19), [4, 3, 3, 1]),
        tf.cast(tf.tile(tf.tensor2d([1, 2, 3, 4], [2, 2], 'int32'), [2, 3]), 'float32'),
        tf.tile(many, [2, 2, 2, 2]),
      ];
    });
    expectRelativeClose(cpu, wasm);
  });

  it('makes the BatchNorm gradient match cpu', async () => {
    const { cpu, wasm } = await onBothBackends(() => {
      const x = tf.randomNormal([4, 5, 5, 6], 0, 1, 'float32', 14);
      const [mean, variance, scale, offset] = [15, 16, 17, 18].map((seed) =>
        tf.randomUniform([6], 0.5, 1.5, 'float32', seed),
      );
      return tf.grads((a: tf.Tensor, g: tf.Tensor) =>
        tf.sum(
          tf.square(tf.batchNorm(a as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D, offset, g, 1e-5)),
        ),
      )([x, scale as tf.Tensor]);
    });
    expectRelativeClose(cpu, wasm);
  });
});

describe('registration', () => {
  it('adds exactly the missing kernels once, and they do not leak tensors', async () => {
    expect(WASM_TRAINING_KERNELS.map((k) => k.kernelName)).toEqual([
      'Conv2DBackpropFilter',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'UnsortedSegmentSum',
    ]);
    expect(WASM_FASTER_KERNELS).toEqual([
      'Conv2DBackpropInput',
      'Tile',
      'Slice',
      'Sum',
      'Mean',
      'Identity',
      'Cast',
      'BatchMatMul',
      'ResizeNearestNeighborGrad',
    ]);
    expect(registerWasmTrainingKernels()).toEqual([]);
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')?.kernelFunc.toString()).toContain('composeKernel');
    for (const name of WASM_FASTER_KERNELS) {
      expect(tf.getKernel(name, 'wasm')?.kernelFunc.toString()).toContain('fastPath');
    }
    await tf.setBackend('wasm');
    const x = tf.randomNormal([2, 7, 7, 4]);
    const w = tf.randomNormal([3, 3, 4, 2]);
    const step = () =>
      tf.tidy(() => {
        tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(
            tf.depthwiseConv2d(
              tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'),
              tf.ones([3, 3, 2, 2]),
              1,
              'same',
            ),
          ),
        )([x, w]);
      });
    step();
    const tensors = tf.memory().numTensors;
    const bytes = tf.memory().numBytes;
    for (let i = 0; i < 3; i++) step();
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.memory().numBytes).toBe(bytes);
  });

  it('restores tfjs-wasm kernels by name and replaces them again', async () => {
    await tf.setBackend('wasm');
    const buffers = () => (tf.memory() as { numDataBuffers: number }).numDataBuffers;
    const x = tf.tensor1d([1, 2, 3]);
    const cloneAddsBuffer = () => {
      const before = buffers();
      const copy = tf.clone(x);
      const added = buffers() - before;
      copy.dispose();
      return added;
    };
    expect(cloneAddsBuffer()).toBe(0);
    expect(restoreWasmKernels(['Identity', 'Slice'])).toEqual(['Slice', 'Identity']);
    expect(restoreWasmKernels(['Identity'])).toEqual([]);
    // tfjs-wasm's own Identity copies.
    expect(cloneAddsBuffer()).toBe(1);
    expect(Array.from(tf.slice(x, 1, 2).dataSync())).toEqual([2, 3]);
    expect(registerWasmTrainingKernels({ replaceSlowKernels: ['Identity'] })).toEqual(['Identity']);
    expect(cloneAddsBuffer()).toBe(0);
    expect(registerWasmTrainingKernels()).toEqual(['Slice']);
    x.dispose();
  });

  it('gives the same gradients with every replacement restored (the originals work)', async () => {
    await tf.setBackend('wasm');
    const run = () =>
      tf.tidy(() => {
        const x = tf.randomNormal([2, 7, 7, 3], 0, 1, 'float32', 41);
        const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 42);
        const f = (a: tf.Tensor, b: tf.Tensor) => {
          const y = tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same');
          const { mean, variance } = tf.moments(y, [0, 1, 2]);
          const normed = tf.batchNorm(y, mean, variance, tf.zeros([4]), tf.ones([4]), 1e-3);
          return tf.sum(tf.square(tf.slice(tf.clone(normed), [0, 1, 0, 0], [2, 3, 4, 4])));
        };
        return tf
          .grads(f)([x, w])
          .map((g) => g.dataSync() as Float32Array);
      });
    const replaced = run();
    expect(restoreWasmKernels()).toEqual([...WASM_FASTER_KERNELS]);
    const original = run();
    expect(registerWasmTrainingKernels()).toEqual([...WASM_FASTER_KERNELS]);
    expectRelativeClose(original, replaced);
  });

  it('names the option and the allowed kernels for an unknown kernel name', () => {
    expect(() => registerWasmTrainingKernels({ replaceSlowKernels: ['Conv2D'] })).toThrow(
      /replaceSlowKernels: 'Conv2D' is not a replaceable wasm kernel; allowed: Conv2DBackpropInput, Tile, Slice, Sum, Mean, Identity, Cast, BatchMatMul, ResizeNearestNeighborGrad/,
    );
    expect(() => restoreWasmKernels(['Nope', 'Conv2D'])).toThrow(
      /names: 'Nope', 'Conv2D' are not replaceable wasm kernels; allowed: /,
    );
  });
});
