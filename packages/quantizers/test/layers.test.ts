import * as tf from '@tensorflow/tfjs-core';
import { layers } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import {
  fakeQuantize,
  QuantizedConv2D,
  QuantizedDense,
  QuantizedDepthwiseConv2D,
  type QuantizedWeightLayer,
  rangeOver,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

/**
 * Builds the quantized layer and its float twin on the same random weights, with the
 * twin's kernel replaced by the hand-quantized kernel (per output channel): the two
 * must agree exactly in value and in the kernel gradient (straight-through).
 */
function compareWithFloat(
  quantized: QuantizedWeightLayer,
  float: layers.Layer,
  inputShape: number[],
  channelAxes: number[],
  bits: number,
  checkGradient = true,
): void {
  const x = tf.randomNormal(inputShape, 0, 1, 'float32', 11);
  float.apply(x);
  quantized.apply(x);
  const weights = float.getWeights().map((w, i) => tf.randomNormal(w.shape, 0, 0.5, 'float32', 20 + i));
  quantized.setWeights(weights);
  const kernel = weights[0] as tf.Tensor;
  const qKernel = fakeQuantize(kernel, rangeOver(kernel, channelAxes), { bits, scheme: 'asymmetric' });
  float.setWeights([qKernel, ...weights.slice(1)]);
  expect(maxAbsDiff(quantized.quantizedKernel(), qKernel)).toBe(0);
  expect(maxAbsDiff(quantized.apply(x) as tf.Tensor, float.apply(x) as tf.Tensor)).toBeLessThan(1e-5);
  if (!checkGradient) return;

  const loss = (layer: layers.Layer) => () => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar;
  const gq = tf.variableGrads(
    loss(quantized),
    quantized.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  const gf = tf.variableGrads(
    loss(float),
    float.trainableWeights.map((w) => w.read() as tf.Variable),
  );
  const gqs = Object.values(gq.grads);
  const gfs = Object.values(gf.grads);
  expect(gqs).toHaveLength(gfs.length);
  gqs.forEach((g, i) => expect(maxAbsDiff(g, gfs[i] as tf.Tensor)).toBeLessThan(1e-3));
  expect(tf.sum(tf.abs(gqs[0] as tf.Tensor)).dataSync()[0]).toBeGreaterThan(0);
}

describe('QuantizedConv2D', () => {
  const cases = [
    { kernelSize: 1, strides: 1, padding: 'same', size: 5 },
    { kernelSize: 3, strides: 1, padding: 'same', size: 7 },
    { kernelSize: 3, strides: 2, padding: 'valid', size: 9 },
    { kernelSize: 5, strides: 2, padding: 'same', size: 7 },
    { kernelSize: 3, strides: 1, padding: 'same', size: 6, dilationRate: 2 },
  ] as const;
  for (const c of cases) {
    it(`equals Conv2D on the quantized kernel: k${c.kernelSize} s${c.strides} ${c.padding} d${'dilationRate' in c ? c.dilationRate : 1}`, () => {
      const args = { filters: 4, activation: 'relu', ...c };
      compareWithFloat(
        new QuantizedConv2D({ ...args, weightBits: 4 }),
        layers.conv2d(args as never),
        [2, c.size, c.size, 3],
        [3],
        4,
        !('dilationRate' in c), // tfjs has no conv2d gradient for dilation > 1, float or not
      );
    });
  }

  it('computes the output shape of Conv2D', () => {
    for (const c of cases) {
      const args = { filters: 4, ...c };
      const q = new QuantizedConv2D(args);
      const f = layers.conv2d(args as never);
      expect(q.computeOutputShape([null, c.size, c.size, 3])).toEqual(f.computeOutputShape([null, c.size, c.size, 3]));
    }
  });

  it('rejects bad options, naming layer and option', () => {
    expect(() => new QuantizedConv2D({ name: 'c', filters: 2, kernelSize: 3, weightBits: 1 })).toThrow(
      /QuantizedConv2D 'c' weightBits: bit width/,
    );
    expect(() => new QuantizedConv2D({ name: 'c', filters: 0, kernelSize: 3 })).toThrow(
      /'c': filters must be a positive integer/,
    );
    expect(() => new QuantizedConv2D({ name: 'c', filters: 2, kernelSize: 3, padding: 'causal' as never })).toThrow(
      /padding must be 'valid' or 'same'/,
    );
    expect(() => new QuantizedConv2D({ name: 'c', filters: 2, kernelSize: 3, dataFormat: 'channelsFirst' })).toThrow(
      /only dataFormat 'channelsLast'/,
    );
    expect(() => new QuantizedConv2D({ name: 'c', filters: 2, kernelSize: [3, 3, 3] as never })).toThrow(
      /kernelSize must be a number or a pair/,
    );
  });

  it('per-tensor mode uses one range for the whole kernel', () => {
    const q = new QuantizedConv2D({ filters: 2, kernelSize: 1, perChannel: false, weightBits: 2, useBias: false });
    q.apply(tf.ones([1, 1, 1, 1]));
    q.setWeights([tf.tensor4d([0.1, 3], [1, 1, 1, 2])]);
    // One range [0, 3], step 1: 0.1 -> 0, 3 -> 3. Per channel, 0.1 would stay exact.
    expect(Array.from(q.quantizedKernel().dataSync())).toEqual([0, 3]);
  });
});

describe('QuantizedDepthwiseConv2D', () => {
  const cases = [
    { kernelSize: 3, depthMultiplier: 1, strides: 1, padding: 'same', size: 7 },
    { kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'valid', size: 9 },
    { kernelSize: 5, depthMultiplier: 2, strides: 1, padding: 'same', size: 5 },
  ] as const;
  for (const c of cases) {
    it(`equals DepthwiseConv2D on the quantized kernel: k${c.kernelSize} m${c.depthMultiplier} s${c.strides} ${c.padding}`, () => {
      const args = { activation: 'relu6', ...c };
      compareWithFloat(
        new QuantizedDepthwiseConv2D({ ...args, weightBits: 3 }),
        layers.depthwiseConv2d(args as never),
        [1, c.size, c.size, 3],
        [2, 3],
        3,
      );
      const q = new QuantizedDepthwiseConv2D(args);
      expect(q.computeOutputShape([null, c.size, c.size, 3])).toEqual(
        layers.depthwiseConv2d(args as never).computeOutputShape([null, c.size, c.size, 3]),
      );
    });
  }

  it('takes one range per (input channel, multiplier) pair', () => {
    const q = new QuantizedDepthwiseConv2D({ kernelSize: [2, 1], depthMultiplier: 2, weightBits: 2, useBias: false });
    q.apply(tf.ones([1, 2, 1, 1]));
    // Channel m=0 holds {0, 3}: range [0, 3], exact. Channel m=1 holds {0.3, 0.6}: range [0, 0.6], step 0.2.
    q.setWeights([tf.tensor4d([0, 0.3, 3, 0.6], [2, 1, 1, 2])]);
    const values = Array.from(q.quantizedKernel().dataSync());
    [0, 0.4, 3, 0.6].forEach((v, i) => expect(values[i]).toBeCloseTo(v, 6));
  });
});

describe('QuantizedDense', () => {
  it('equals Dense on the quantized kernel (rank 2 and rank 3 inputs)', () => {
    compareWithFloat(new QuantizedDense({ units: 5, weightBits: 4 }), layers.dense({ units: 5 }), [3, 6], [1], 4);
    compareWithFloat(
      new QuantizedDense({ units: 2, weightBits: 5, activation: 'relu' }),
      layers.dense({ units: 2, activation: 'relu' }),
      [2, 3, 4],
      [1],
      5,
    );
    expect(new QuantizedDense({ units: 7 }).computeOutputShape([null, 3, 4])).toEqual([null, 3, 7]);
  });
});
