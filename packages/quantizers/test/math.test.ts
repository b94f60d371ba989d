import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import {
  dequantize,
  fakeQuantize,
  fakeQuantizeLearnedStep,
  fakeQuantizeSTE,
  integerRange,
  type QuantSpec,
  quantize,
  quantParams,
  type Range,
  rangeOver,
  validateBits,
  validateScheme,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

const asym4: QuantSpec = { bits: 4, scheme: 'asymmetric' };
const sym4: QuantSpec = { bits: 4, scheme: 'symmetric' };
const range = (lo: number, hi: number): Range => ({ min: tf.scalar(lo), max: tf.scalar(hi) });
const values = (t: tf.Tensor) => Array.from(t.dataSync());

function expectClose(actual: tf.Tensor | number[], expected: number[], tol = 1e-6): void {
  const got = Array.isArray(actual) ? actual : values(actual);
  expect(got).toHaveLength(expected.length);
  got.forEach((v, i) => expect(Math.abs(v - (expected[i] as number))).toBeLessThanOrEqual(tol));
}

describe('bits and schemes', () => {
  it('gives the integer grid of each scheme', () => {
    expect(integerRange(asym4)).toEqual({ qmin: 0, qmax: 15 });
    expect(integerRange(sym4)).toEqual({ qmin: -7, qmax: 7 });
    expect(integerRange({ bits: 2, scheme: 'symmetric' })).toEqual({ qmin: -1, qmax: 1 });
    expect(integerRange({ bits: 16, scheme: 'asymmetric' })).toEqual({ qmin: 0, qmax: 65535 });
  });

  it('rejects bit widths outside 2..16 and unknown schemes, naming the option', () => {
    for (const bad of [1, 17, 2.5, '8', Number.NaN]) {
      expect(() => validateBits(bad, 'weightBits')).toThrow(/weightBits: bit width must be an integer from 2 to 16/);
    }
    expect(validateBits(2, 'x')).toBe(2);
    expect(() => validateScheme('signed', 'activationScheme')).toThrow(/activationScheme: scheme must be/);
  });
});

describe('quantParams', () => {
  it('matches hand-computed scale and integral zero point', () => {
    // [-1, 0.875] at 4 bits: scale 1.875 / 15 = 0.125, zero point 8.
    const a = quantParams(range(-1, 0.875), asym4);
    expectClose(a.scale, [0.125]);
    expectClose(a.zeroPoint, [8], 0);
    // [0.5, 2] widens to [0, 2]: zero point 0.
    const b = quantParams(range(0.5, 2), asym4);
    expectClose(b.scale, [2 / 15]);
    expectClose(b.zeroPoint, [0], 0);
    // [-3, -1] widens to [-3, 0]: scale 0.2, zero point 15.
    const c = quantParams(range(-3, -1), asym4);
    expectClose(c.scale, [0.2]);
    expectClose(c.zeroPoint, [15], 0);
    // [-0.3, 1.2]: scale 0.1, zero point rounds 3 (not a tie).
    const d = quantParams(range(-0.3, 1.2), asym4);
    expectClose(d.scale, [0.1]);
    expectClose(d.zeroPoint, [3], 0);
    // Symmetric: max |x| / 7, zero point 0.
    const e = quantParams(range(-1, 0.5), sym4);
    expectClose(e.scale, [1 / 7]);
    expectClose(e.zeroPoint, [0], 0);
  });
});

describe('quantize / dequantize / fakeQuantize', () => {
  it('asymmetric 4 bit: hand-computed integers and values, half-to-even ties, clamping', () => {
    // scale 0.125, zero point 8 (exact in float32, so ties are real ties).
    const x = tf.tensor1d([-1, -0.5, 0, 0.3125, 0.0625, 0.1875, 0.875, 2]);
    const params = quantParams(range(-1, 0.875), asym4);
    // x / 0.125 = -8, -4, 0, 2.5, 0.5, 1.5, 7, 16 -> round half to even -> +8 -> clamp [0, 15]
    const q = quantize(x, params, asym4);
    expect(q.dtype).toBe('int32');
    expect(values(q)).toEqual([0, 4, 8, 10, 8, 10, 15, 15]);
    const expected = [-1, -0.5, 0, 0.25, 0, 0.25, 0.875, 0.875];
    expectClose(dequantize(q, params), expected);
    expectClose(fakeQuantize(x, range(-1, 0.875), asym4), expected);
  });

  it('symmetric 4 bit: hand-computed values', () => {
    // scale 0.125: x / s = -8, -1.5, 2.5, 3.5, 16 -> -8, -2, 2, 4, 16 -> clamp [-7, 7]
    const x = tf.tensor1d([-1, -0.1875, 0.3125, 0.4375, 2]);
    expectClose(fakeQuantize(x, range(-0.875, 0.5), sym4), [-0.875, -0.25, 0.25, 0.5, 0.875]);
  });

  it('keeps the error within half a step inside the range (8 bit)', () => {
    const x = tf.randomUniform([1000], -3, 5, 'float32', 7);
    const r = rangeOver(x);
    const step = values(quantParams(r, { bits: 8, scheme: 'asymmetric' }).scale)[0] as number;
    const err = tf
      .max(tf.abs(tf.sub(fakeQuantize(x, r, { bits: 8, scheme: 'asymmetric' }), x)))
      .dataSync()[0] as number;
    expect(err).toBeLessThanOrEqual(step / 2 + 1e-6);
    expect(err).toBeGreaterThan(0);
  });

  it('16 bit is nearly lossless', () => {
    const x = tf.randomUniform([500], -1, 1, 'float32', 3);
    const y = fakeQuantize(x, rangeOver(x), { bits: 16, scheme: 'asymmetric' });
    expect(tf.max(tf.abs(tf.sub(y, x))).dataSync()[0]).toBeLessThan(2 / 65535);
  });

  it('per channel along any axis: hand-computed 2-bit example', () => {
    // Columns are channels: [0,-4] -> range [-4,0]; [1,0] -> [0,1]; [2,4] -> [0,4].
    const x = tf.tensor2d([
      [0, 1, 2],
      [-4, 0, 4],
    ]);
    const r = rangeOver(x, [1]);
    expectClose(r.min, [-4, 0, 2]);
    expectClose(r.max, [0, 1, 4]);
    expect(r.min.shape).toEqual([1, 3]);
    // 2 bits (qmax 3): col0 scale 4/3 zp 3; col1 scale 1/3; col2 scale 4/3, 2 -> 1.5 -> 2 -> 8/3.
    expectClose(fakeQuantize(x, r, { bits: 2, scheme: 'asymmetric' }), [0, 1, 8 / 3, -4, 0, 4], 1e-6);
    // Negative axes count from the end; the rows as channels give a different result.
    expectClose(rangeOver(x, [-1]).max, [0, 1, 4]);
    expectClose(rangeOver(x, [0]).max, [2, 4]);
    expect(() => rangeOver(x, [2])).toThrow(/axis 2 is out of range for a rank-2 tensor/);
  });

  it('never yields NaN or Inf on degenerate ranges', () => {
    const cases: [tf.Tensor, number[]][] = [
      [tf.zeros([4]), [0, 0, 0, 0]], // all zeros: min == max == 0
      [tf.fill([3], 3), [3, 3, 3]], // constant positive: widened to [0, 3], exact
      [tf.fill([3], -2), [-2, -2, -2]], // constant negative: widened to [-2, 0], exact
      [tf.fill([2], 1e-35), [0, 0]], // below any meaningful scale
    ];
    for (const scheme of ['asymmetric', 'symmetric'] as const) {
      for (const [x, expected] of cases) {
        const y = fakeQuantize(x, rangeOver(x), { bits: 4, scheme });
        values(y).forEach((v) => expect(Number.isFinite(v)).toBe(true));
        expectClose(y, expected, 1e-6);
      }
    }
    // A constant channel next to a normal one, per channel.
    const k = tf.tensor2d([
      [5, -1],
      [5, 1],
    ]);
    const y = values(fakeQuantize(k, rangeOver(k, [1]), asym4));
    y.forEach((v) => expect(Number.isFinite(v)).toBe(true));
    expect(y[0]).toBeCloseTo(5, 6);
    expect(y[2]).toBeCloseTo(5, 6);
  });
});

describe('straight-through estimator', () => {
  it('forwards the quantized value', () => {
    const x = tf.tensor1d([-1, -0.5, 0.3, 2]);
    expectClose(fakeQuantizeSTE(x, range(-1, 0.875), asym4), [-1, -0.5, 0.25, 0.875]);
  });

  it('passes the upstream gradient unchanged, also outside the range', () => {
    const x = tf.tensor1d([-3, -0.5, 0.3, 2]);
    const w = tf.tensor1d([0.5, -2, 3, 7]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(w, fakeQuantizeSTE(t, range(-1, 1), asym4))))(x);
    expectClose(g, [0.5, -2, 3, 7]);
  });

  it('gives no gradient through a range computed from the input', () => {
    const k = tf.tensor2d([
      [0.2, -1],
      [0.9, 3],
    ]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.square(fakeQuantizeSTE(t, (v) => rangeOver(v, [1]), asym4))))(k);
    // d/dk sum(q^2) with dq/dk = 1 is 2q.
    const q = fakeQuantize(k, rangeOver(k, [1]), asym4);
    expectClose(g, values(tf.mul(2, q)), 1e-6);
  });

  it('leaves no tensors behind', () => {
    const x = tf.randomNormal([64]);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      tf.tidy(() => {
        tf.grad((t: tf.Tensor) => tf.sum(fakeQuantizeSTE(t, (v) => rangeOver(v), asym4)))(x);
      });
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('learned step size (LSQ)', () => {
  const asym2: QuantSpec = { bits: 2, scheme: 'asymmetric' };

  it('forwards what fakeQuantize gives for the range of that step and zero point', () => {
    const x = tf.tensor1d([-0.7, -0.05, 0.26, 0.9, 2]);
    // Step 0.2, zero point 1 on [0, 3]: the range [-0.2, 0.4].
    expectClose(fakeQuantizeLearnedStep(x, tf.scalar(0.2), 1, asym2), values(fakeQuantize(x, range(-0.2, 0.4), asym2)));
    expectClose(fakeQuantizeLearnedStep(x, tf.scalar(0.2), 1, asym2), [-0.2, 0, 0.2, 0.4, 0.4]);
  });

  it("gives LSQ's gradients: round(x/s) - x/s inside the range, the grid end outside; x passes inside only", () => {
    const x = tf.tensor1d([0.26, 0.9, 2, -0.5]);
    const w = tf.tensor1d([1, 2, 3, 4]);
    const [gx, gs] = tf.grads((t: tf.Tensor, s: tf.Tensor) =>
      tf.sum(tf.mul(w, fakeQuantizeLearnedStep(t, s, 0, asym2))),
    )([x, tf.scalar(0.2)]);
    // x/s = 1.3 (rounds to 1: 1 - 1.3), 4.5 and 10 (above 3: 3), -2.5 (below 0: 0).
    expect((gs as tf.Tensor).dataSync()[0]).toBeCloseTo(1 * -0.3 + 2 * 3 + 3 * 3 + 4 * 0, 5);
    expectClose(gx as tf.Tensor, [1, 0, 0, 0]);
  });
});
