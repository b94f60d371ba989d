import { calibrateActivationRanges, quantizeModel } from '@qimera/quantizers';
import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, layers, model, type SymbolicTensor, input as symbolicInput } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { randomizeWeights, tinyBranchy, tinySequential } from '../../../test-support/models.js';
import {
  exactLinear,
  IntegerInferenceError,
  IntegerModel,
  type IntTensor,
  requantize,
  roundHalfEven,
  toFixedPoint,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

/** Deterministic integers in [-limit, limit]. */
function ints(count: number, limit: number, seed: number): Int32Array {
  let s = seed;
  return Int32Array.from({ length: count }, () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return (s % (2 * limit + 1)) - limit;
  });
}

/** Plain int arithmetic NHWC convolution ('valid' after explicit padding), the reference. */
function naiveConv(x: IntTensor, w: IntTensor, stride: number, pad: number, depthwise = false): Int32Array {
  const [n, h, wd, c] = x.shape as [number, number, number, number];
  const [kh, kw, , m] = w.shape as [number, number, number, number];
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((wd + 2 * pad - kw) / stride) + 1;
  const outC = depthwise ? c * m : m;
  const out = new Int32Array(n * oh * ow * outC);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++)
        for (let o = 0; o < outC; o++) {
          let acc = 0;
          for (let i = 0; i < kh; i++)
            for (let j = 0; j < kw; j++) {
              const iy = y * stride + i - pad;
              const ix = xx * stride + j - pad;
              if (iy < 0 || ix < 0 || iy >= h || ix >= wd) continue;
              const base = ((b * h + iy) * wd + ix) * c;
              if (depthwise) {
                const ci = Math.floor(o / m);
                acc += (x.data[base + ci] as number) * (w.data[((i * kw + j) * c + ci) * m + (o % m)] as number);
              } else {
                for (let ci = 0; ci < c; ci++) {
                  acc += (x.data[base + ci] as number) * (w.data[((i * kw + j) * c + ci) * m + o] as number);
                }
              }
            }
          out[((b * oh + y) * ow + xx) * outC + o] = acc;
        }
  return out;
}

describe('fixed point', () => {
  it('represents multipliers as 31-bit integers and shifts (hand-computed)', () => {
    expect(toFixedPoint(1)).toEqual({ multiplier: 2 ** 30, shift: 30 });
    expect(toFixedPoint(0.75)).toEqual({ multiplier: 0.75 * 2 ** 31, shift: 31 });
    expect(toFixedPoint(3)).toEqual({ multiplier: 3 * 2 ** 29, shift: 29 });
    for (const r of [1e-5, 0.0123, 0.9999999, 1.0000001, 37.5]) {
      const { multiplier, shift } = toFixedPoint(r);
      expect(multiplier).toBeGreaterThanOrEqual(2 ** 30);
      expect(multiplier).toBeLessThan(2 ** 31);
      expect(Math.abs(multiplier * 2 ** -shift - r) / r).toBeLessThan(2 ** -30);
    }
    expect(() => toFixedPoint(-1)).toThrow('multiplier must be finite and >= 0, got -1');
  });

  it('rounds half to even, like tf.round', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, 2.4999].map((v) => roundHalfEven(v) + 0)).toEqual([0, 2, 2, 0, -2, 2]);
  });

  it('requantizes a sum of branches with ReLU6 clamps (hand-computed)', () => {
    // Two branches: 3 * 0.1 + 2 * 0.25 = 0.8 -> /0.2 = 4 steps; -10 * 0.1 = -1 -> relu -> 0;
    // 40 * 0.1 + 0 = 4 -> 20 steps, capped by relu6 at round(6 / 0.2) = 30: stays 20;
    // 100 * 0.1 = 10 -> 50 steps -> capped at 30, then the grid's qmax - zp = 255 - 3.
    const a = { data: Int32Array.of(3, -10, 40, 100), shape: [4, 1] };
    const b = { data: Int32Array.of(2, 0, 0, 0), shape: [4, 1] };
    const out = requantize(
      {
        terms: [
          { values: a, multiplier: Float64Array.of(0.1), bound: 100 },
          { values: b, multiplier: Float64Array.of(0.25), bound: 2 },
        ],
        reluCap: 6,
      },
      { scale: 0.2, zeroPoint: 3, qmin: 0, qmax: 255 },
    );
    expect(Array.from(out.data)).toEqual([4, 0, 20, 30]);
    const clipped = requantize(
      { terms: [{ values: a, multiplier: Float64Array.of(1), bound: 100 }], reluCap: null },
      { scale: 1, zeroPoint: 12, qmin: 0, qmax: 15 },
    );
    expect(Array.from(clipped.data)).toEqual([3, -10, 3, 3]); // grid [0, 15] minus the zero point 12
  });
});

describe('exactLinear', () => {
  it('equals int32 arithmetic, also when the kernel must be split into digits', () => {
    // 8-bit activations and weights over 3*3*64 terms: 255 * 255 * 576 > 2^24, so split.
    const x = { data: ints(2 * 5 * 5 * 64, 255, 1), shape: [2, 5, 5, 64] };
    const w = { data: ints(3 * 3 * 64 * 4, 255, 2), shape: [3, 3, 64, 4] };
    const geometry = { kernelSize: [3, 3], strides: [1, 1], padding: 'same', dilationRate: [1, 1] } as const;
    const same = exactLinear('conv2d', x, w, {
      ...geometry,
      kernelSize: [3, 3],
      strides: [1, 1],
      dilationRate: [1, 1],
    });
    expect(Array.from(same.data)).toEqual(Array.from(naiveConv(x, w, 1, 1)));
    const strided = exactLinear('conv2d', x, w, {
      kernelSize: [3, 3],
      strides: [2, 2],
      padding: 'valid',
      dilationRate: [1, 1],
    });
    expect(strided.shape).toEqual([2, 2, 2, 4]);
    expect(Array.from(strided.data)).toEqual(Array.from(naiveConv(x, w, 2, 0)));
    const small = { data: ints(2 * 5 * 5 * 3, 15, 3), shape: [2, 5, 5, 3] };
    const dw = { data: ints(3 * 3 * 3 * 2, 7, 4), shape: [3, 3, 3, 2] };
    const depthwise = exactLinear('depthwise', small, dw, {
      kernelSize: [3, 3],
      strides: [1, 1],
      padding: 'same',
      dilationRate: [1, 1],
    });
    expect(Array.from(depthwise.data)).toEqual(Array.from(naiveConv(small, dw, 1, 1, true)));
    // Dense on large pooled sums: 16320 * 255 * 64 > 2^24.
    const pooled = { data: ints(3 * 64, 16320, 5), shape: [3, 64] };
    const fc = { data: ints(64 * 10, 255, 6), shape: [64, 10] };
    const dense = exactLinear('dense', pooled, fc);
    const expected = Int32Array.from({ length: 30 }, (_, i) => {
      let acc = 0;
      for (let k = 0; k < 64; k++)
        acc += (pooled.data[Math.floor(i / 10) * 64 + k] as number) * (fc.data[k * 10 + (i % 10)] as number);
      return acc;
    });
    expect(Array.from(dense.data)).toEqual(Array.from(expected));
  });

  it('refuses accumulators beyond int32', () => {
    // 1024 * 255 * 2^22 > 2^31.
    const x = { data: new Int32Array(1024).fill(255), shape: [1, 1024] };
    const w = { data: new Int32Array(1024).fill(2 ** 22), shape: [1024, 1] };
    expect(() => exactLinear('dense', x, w)).toThrow('overflows int32');
  });
});

/**
 * Every structure the integer reference runs: conv -> BN (folded) -> ReLU, zero
 * padding, strided depthwise with ReLU6, a residual Add of two accumulators, max
 * pooling, Concatenate, global average pooling, Dense.
 */
function integerNet(): LayersModel {
  const x = symbolicInput({ name: 'image', shape: [9, 9, 3] });
  const c1 = layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(x);
  const r1 = layers.reLU({ name: 'r1' }).apply(layers.batchNormalization({ name: 'bn1' }).apply(c1));
  const padded = layers.zeroPadding2d({ name: 'pad', padding: 1 }).apply(r1);
  const dw = layers
    .depthwiseConv2d({ name: 'dw', kernelSize: 3, strides: 2, depthMultiplier: 2, activation: 'relu6' })
    .apply(padded);
  const pw = layers.conv2d({ name: 'pw', filters: 6, kernelSize: 1 }).apply(dw);
  const skip = layers.conv2d({ name: 'skip', filters: 6, kernelSize: 1, strides: 2 }).apply(r1);
  const sum = layers.add({ name: 'sum' }).apply([pw, skip] as SymbolicTensor[]);
  const r2 = layers.activation({ name: 'r2', activation: 'relu' }).apply(sum);
  const pooled = layers.maxPooling2d({ name: 'pool', poolSize: 3, strides: 1, padding: 'same' }).apply(r2);
  const joined = layers.concatenate({ name: 'cat' }).apply([r2, pooled] as SymbolicTensor[]);
  const gap = layers.globalAveragePooling2d({ name: 'gap' }).apply(joined);
  const out = layers.dense({ name: 'logits', units: 5 }).apply(gap);
  const net = model({ name: 'integer_net', inputs: x, outputs: out as SymbolicTensor });
  randomizeWeights(net, 3);
  return net;
}

describe('IntegerModel', () => {
  async function integerReady(bits: number) {
    const q = await quantizeModel(integerNet(), {
      weightBits: bits,
      activationBits: bits,
      inputBits: 8,
      foldBatchNorm: true,
    });
    const calibration = tf.randomNormal([64, 9, 9, 3], 0, 1, 'float32', 12);
    await calibrateActivationRanges(q, [calibration]);
    calibration.dispose();
    return q;
  }

  it('matches the fake-quantized model: residual Add, Concatenate, depthwise, padding, ReLU6, pooling', async () => {
    for (const bits of [8, 4]) {
      const q = await integerReady(bits);
      const integer = IntegerModel.fromQuantized(q);
      const x = tf.randomNormal([256, 9, 9, 3], 0, 1, 'float32', 13);
      const fake = q.predict(x) as tf.Tensor;
      const exact = integer.predict(x);
      const [f, e] = [fake.dataSync(), exact.dataSync()];
      const scale = Math.max(...Array.from(f, Math.abs));
      let worst = 0;
      for (let i = 0; i < f.length; i++) worst = Math.max(worst, Math.abs((f[i] as number) - (e[i] as number)));
      // Only rounding ties and the int32 bias rounding can differ: far below one logit step.
      console.log(
        bits,
        worst / scale,
        tf.tidy(() => tf.mean(tf.abs(tf.sub(fake, exact))).dataSync()[0]! / tf.mean(tf.abs(fake)).dataSync()[0]!),
      );
      expect(worst / scale).toBeLessThan(bits === 8 ? 0.02 : 0.05);
      const agree = tf.tidy(
        () => tf.mean(tf.cast(tf.equal(tf.argMax(fake, 1), tf.argMax(exact, 1)), 'float32')).dataSync()[0],
      );
      expect(agree).toBeGreaterThanOrEqual(0.98);
      tf.dispose([x, fake, exact]);
    }
  });

  it('leaves no tensor behind', async () => {
    const q = await integerReady(8);
    const integer = IntegerModel.fromQuantized(q);
    const x = tf.randomNormal([4, 9, 9, 3], 0, 1, 'float32', 14);
    integer.predict(x).dispose();
    const before = tf.memory().numTensors;
    integer.predict(x).dispose();
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });

  it('names what is not integer: unfolded BN, float input, unsupported activations', async () => {
    const q = await quantizeModel(tinySequential(), { weightBits: 8, activationBits: 8 });
    const error = (() => {
      try {
        IntegerModel.fromQuantized(q);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(IntegerInferenceError);
    const problems = (error as IntegerInferenceError).problems;
    expect(problems).toContain(
      "BatchNormalization 'bn1' is not supported in integer arithmetic: fold BatchNorm first (quantizeModel foldBatchNorm: true)",
    );
    expect(problems).toContain("ActivationQuantizer 'c1_quant' was never calibrated");
    expect(problems.some((p) => /the network input reaches QuantizedConv2D 'c1' in float/.test(p))).toBe(true);
  });

  it('refuses, at run time, a weight layer whose input no activation quantizer produced', async () => {
    // tinyBranchy: 'down' (no ReLU, so no quantizer) feeds the depthwise 'dw' in float.
    const q = await quantizeModel(tinyBranchy(), {
      weightBits: 8,
      activationBits: 8,
      inputBits: 8,
      foldBatchNorm: true,
    });
    const x = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 15);
    await calibrateActivationRanges(q, [x]);
    const before = tf.memory().numTensors;
    expect(() => IntegerModel.fromQuantized(q).predict(x)).toThrow(
      "QuantizedDepthwiseConv2D 'dw': its input is not quantized: no activation quantizer produced it",
    );
    expect(tf.memory().numTensors).toBe(before);
    x.dispose();
  });
});
