import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, layers, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { randomizeWeights, tinyBranchy } from '../../../test-support/models.js';
import {
  ActivationQuantizer,
  correctBias,
  mseClipRange,
  QuantizedWeightLayer,
  quantizeModel,
  splitIntoBatches,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

/** Round half to even, as tf.round. */
const roundEven = (v: number) => {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
};

/** Squared error of asymmetric `bits` quantization of `values` with the range [lo, hi] (widened to 0). */
function quantError(values: number[], lo: number, hi: number, bits: number): number {
  const qmax = 2 ** bits - 1;
  const low = Math.min(lo, 0);
  const high = Math.max(hi, 0);
  const scale = (high - low) / qmax;
  const zero = Math.min(qmax, Math.max(0, roundEven(-low / scale)));
  return values.reduce((sum, v) => {
    const q = (Math.min(qmax, Math.max(0, roundEven(v / scale) + zero)) - zero) * scale;
    return sum + (q - v) ** 2;
  }, 0);
}

/** The α = i / n (i from n down, strictly better only) minimising the error, by brute force. */
function bestRatio(values: number[], bits: number, n: number): number {
  const lo = Math.min(...values);
  const hi = Math.max(...values);
  let best = 1;
  let bestError = Number.POSITIVE_INFINITY;
  for (let i = n; i >= 1; i--) {
    const error = quantError(values, (lo * i) / n, (hi * i) / n, bits);
    if (i === n || error < bestError - 1e-9 * Math.max(1, bestError)) {
      bestError = error;
      best = i / n;
    }
  }
  return best;
}

describe('mseClipRange', () => {
  it('picks the clipping ratio a brute-force search picks, per tensor and per channel', () => {
    const spec = { bits: 2, scheme: 'asymmetric' } as const;
    const values = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 3];
    const range = mseClipRange(tf.tensor1d(values), spec, { candidates: 50 });
    expect(range.max.shape).toEqual([1]);
    expect(range.max.dataSync()[0]).toBeCloseTo(3 * bestRatio(values, 2, 50), 5);
    expect(quantError(values, 0, range.max.dataSync()[0] as number, 2)).toBeLessThan(quantError(values, 0, 3, 2));
    // Two channels (columns): one with an outlier, one without, each gets its own ratio.
    const columns = [
      [-1, -0.5, 0, 0.25, 0.5, 8],
      [-1, -0.6, -0.2, 0.2, 0.6, 1],
    ];
    const kernel = tf.tensor2d(columns[0]?.map((v, i) => [v, columns[1]?.[i] as number]) as number[][]);
    const perChannel = mseClipRange(kernel, { bits: 3, scheme: 'asymmetric' }, { keepAxes: [1], candidates: 40 });
    expect(perChannel.min.shape).toEqual([1, 2]);
    columns.forEach((column, c) => {
      const ratio = bestRatio(column, 3, 40);
      expect(perChannel.max.dataSync()[c]).toBeCloseTo(Math.max(...column) * ratio, 5);
      expect(perChannel.min.dataSync()[c]).toBeCloseTo(Math.min(...column) * ratio, 5);
    });
    expect(() => mseClipRange(kernel, spec, { candidates: 0 })).toThrow('candidates must be a positive integer');
  });

  it('scores a limited sample that visits every channel, whatever the stride', () => {
    // [64, 4, 4, 16]: a plain stride of 16 (16,384 elements, 1,024 sampled) would see only
    // channel 0, whose values are 100 times smaller than the other channels'.
    const spec = { bits: 4, scheme: 'asymmetric' } as const;
    const x = tf.tidy(() => {
      const uniform = tf.randomUniform([64, 4, 4, 16], 0, 10, 'float32', 5);
      return tf.mul(uniform, tf.concat([tf.fill([1], 0.01), tf.ones([15])]));
    });
    const sampled = mseClipRange(x, spec, { sampleLimit: 1024 });
    const whole = mseClipRange(x, spec);
    // Uniform values: the best clip of the whole tensor keeps nearly all of it, and so does the sample's.
    expect(whole.max.dataSync()[0]).toBeGreaterThan(8);
    expect(sampled.max.dataSync()[0]).toBeCloseTo(whole.max.dataSync()[0] as number, 0);
    tf.dispose([x, sampled.min, sampled.max, whole.min, whole.max]);
  });

  it("is what an 'mse' activation observer takes from its first batch, and leaks nothing", () => {
    const quantizer = new ActivationQuantizer({ bits: 3, observer: 'mse' });
    const x = tf.tidy(() => tf.relu(tf.randomNormal([4, 6, 6, 2], 0, 1, 'float32', 3)));
    tf.tidy(() => {
      quantizer.apply(x); // builds the layer
    });
    // The same batch again: the moving average of one value is that value.
    const before = tf.memory().numTensors;
    tf.tidy(() => {
      quantizer.apply(x);
    });
    expect(tf.memory().numTensors).toBe(before);
    const expected = mseClipRange(x, quantizer.spec);
    const { min, max } = quantizer.rangeState();
    expect(min).toBeCloseTo(expected.min.dataSync()[0] as number, 6);
    expect(max).toBeCloseTo(expected.max.dataSync()[0] as number, 6);
    expect(max).toBeLessThan(tf.tidy(() => tf.max(x).dataSync()[0] as number));
    tf.dispose([expected.min, expected.max]);
    expect(() => new ActivationQuantizer({ observer: 'p99' as never })).toThrow(
      "observer must be one of 'ema', 'minmax', 'mse'",
    );
  });
});

describe("quantizeModel weightRange: 'mse'", () => {
  it('clips every kernel so each channel quantizes with less error than its min/max range', async () => {
    const float = tinyBranchy();
    const minmax = await quantizeModel(float, { weightBits: 3, activationBits: 8 });
    const mse = await quantizeModel(float, { weightBits: 3, activationBits: 8, weightRange: 'mse' });
    for (const layer of mse.layers.filter((l): l is QuantizedWeightLayer => l instanceof QuantizedWeightLayer)) {
      const twin = minmax.getLayer(layer.name) as QuantizedWeightLayer;
      const original = float.getLayer(layer.name).getWeights()[0] as tf.Tensor;
      const errors = tf.tidy(() =>
        [layer, twin].map((l) => tf.sum(tf.squaredDifference(l.quantizedKernel(), original)).dataSync()[0] as number),
      );
      expect(errors[0]).toBeLessThanOrEqual((errors[1] as number) + 1e-9);
      // The master copy stays inside the float kernel's range.
      const inside = tf.tidy(() => tf.all(tf.lessEqual(tf.abs(layer.kernelWeight.read()), tf.max(tf.abs(original)))));
      expect(inside.dataSync()[0]).toBe(1);
      inside.dispose();
    }
    await expect(
      quantizeModel(float, { weightBits: 3, activationBits: 8, weightRange: 'p99' as never }),
    ).rejects.toThrow("config.weightRange must be 'minmax' or 'mse', got \"p99\"");
  });
});

describe('correctBias', () => {
  it('makes every output channel mean of the quantized model match the float one, through bias and BN', async () => {
    const float = sequential({
      layers: [
        layers.conv2d({
          name: 'conv',
          inputShape: [5, 5, 2],
          filters: 3,
          kernelSize: 3,
          padding: 'same',
          useBias: false,
        }),
        layers.batchNormalization({ name: 'bn' }),
        layers.globalAveragePooling2d({ name: 'pool' }),
        layers.dense({ name: 'logits', units: 4 }),
      ],
    });
    randomizeWeights(float, 5);
    const student = await quantizeModel(float, { weightBits: 2, activationBits: 8 });
    const images = tf.randomNormal([40, 5, 5, 2], 0.3, 1, 'float32', 9);
    const meanOut = (m: LayersModel) =>
      tf.tidy(() => Array.from(tf.mean(m.predict(images) as tf.Tensor, 0).dataSync()));
    const target = meanOut(float);
    const gap = (values: number[]) => Math.max(...values.map((v, i) => Math.abs(v - (target[i] as number))));
    expect(gap(meanOut(student))).toBeGreaterThan(0.05);
    const before = tf.memory().numTensors;
    const report = correctBias(student, float, images, 16);
    expect(tf.memory().numTensors).toBe(before);
    expect(report).toEqual({ biases: ['logits'], batchNorms: ['conv'], skipped: [] });
    expect(gap(meanOut(student))).toBeLessThan(1e-4);
    // The float model is untouched and a model without twins is refused by name.
    expect(gap(meanOut(float))).toBe(0);
    expect(() => correctBias(student, tinyBranchy(), images)).toThrow(
      "correctBias: layer 'conv' has no float twin with the same kernel",
    );
    images.dispose();
  });

  it('splitIntoBatches keeps a remainder batch', () => {
    const parts = splitIntoBatches(tf.zeros([10, 2]), 4);
    expect(parts.map((p) => p.shape[0])).toEqual([4, 4, 2]);
    expect(() => splitIntoBatches(tf.zeros([2]), 0)).toThrow('batchSize must be a positive integer, got 0');
  });
});
