import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { ActivationQuantizer, observeRange } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

const batches = [
  [-1, 2],
  [-3, 4],
  [0, 1],
];
// Bias-corrected EMA, β = 0.9, by hand: m_t = 0.9 m_{t-1} + 0.1 x_t, c_t = m_t / (1 - 0.9^t).
// t=1: c = x_1. t=2: m = 0.09 x_1 + 0.1 x_2 -> / 0.19. t=3: m = 0.9 m_2 + 0.1 x_3 -> / 0.271.
const emaByHand = [
  [-1, 2],
  [-0.39 / 0.19, 0.58 / 0.19],
  [(0.9 * -0.39) / 0.271, (0.9 * 0.58 + 0.1) / 0.271],
];

function run(kind: 'ema' | 'minmax'): number[][] {
  let state = tf.zeros([2]);
  const out: number[][] = [];
  batches.forEach((b, t) => {
    const next = observeRange(kind, state, tf.tensor1d(b), tf.scalar(t), 0.9);
    state.dispose();
    state = next;
    out.push(Array.from(state.dataSync()));
  });
  return out;
}

describe('observeRange', () => {
  it('ema: matches the hand-computed bias-corrected average', () => {
    run('ema').forEach((pair, t) => {
      expect(pair[0]).toBeCloseTo(emaByHand[t]![0]!, 5);
      expect(pair[1]).toBeCloseTo(emaByHand[t]![1]!, 5);
    });
  });

  it('ema: a constant input is tracked exactly from the first batch (no bias toward 0)', () => {
    let state = tf.zeros([2]);
    for (let t = 0; t < 5; t++) state = observeRange('ema', state, tf.tensor1d([-2, 6]), tf.scalar(t), 0.9);
    const [lo, hi] = state.dataSync();
    expect(lo).toBeCloseTo(-2, 5);
    expect(hi).toBeCloseTo(6, 5);
  });

  it('minmax: keeps the running extremes', () => {
    expect(run('minmax')).toEqual([
      [-1, 2],
      [-3, 4],
      [-3, 4],
    ]);
  });
});

describe('ActivationQuantizer', () => {
  const input = (lo: number, hi: number) => tf.tensor2d([[lo, (lo + hi) / 2, hi]]);

  it('observes while unfrozen (ema, as by hand), keeps its range once frozen', () => {
    const q = new ActivationQuantizer({ name: 'aq', bits: 8 });
    for (const [lo, hi] of batches) tf.dispose(q.apply(input(lo!, hi!)) as tf.Tensor);
    const state = q.rangeState();
    expect(state.observedBatches).toBe(3);
    expect(state.min).toBeCloseTo(emaByHand[2]![0]!, 5);
    expect(state.max).toBeCloseTo(emaByHand[2]![1]!, 5);
    q.freeze();
    tf.dispose(q.apply(input(-100, 100)) as tf.Tensor);
    expect(q.rangeState()).toEqual(state);
    q.unfreeze();
    tf.dispose(q.apply(input(-100, 100)) as tf.Tensor);
    expect(q.rangeState().observedBatches).toBe(4);
  });

  it('quantizes with the range it holds (4 bit, [0, 1.875] -> step 0.125)', () => {
    const q = new ActivationQuantizer({ name: 'aq4', bits: 4, frozen: true });
    q.build();
    q.setRange(0, 1.875);
    const y = q.apply(tf.tensor1d([-1, 0.1, 0.2, 1.9, 5])) as tf.Tensor;
    expect(Array.from(y.dataSync())).toEqual([0, 0.125, 0.25, 1.875, 1.875]);
  });

  it('refuses to run frozen without a range, and rejects bad options by name', () => {
    const q = new ActivationQuantizer({ name: 'cold', frozen: true });
    expect(() => q.apply(tf.ones([2]))).toThrow(/ActivationQuantizer 'cold' is frozen but has never observed a batch/);
    expect(() => new ActivationQuantizer({ name: 'b', bits: 1 })).toThrow(/'b' bits: bit width/);
    expect(() => new ActivationQuantizer({ name: 'o', observer: 'max' as never })).toThrow(/'o': observer must be/);
    expect(() => new ActivationQuantizer({ name: 'd', emaDecay: 1 })).toThrow(/'d': emaDecay must be in \[0, 1\)/);
    expect(() => q.setRange(2, 1)).toThrow(/setRange needs finite min <= max/);
  });

  it('passes gradients straight through', () => {
    const q = new ActivationQuantizer({ name: 'g', bits: 2 });
    const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(q.apply(x) as tf.Tensor, tf.tensor1d([1, 2, 3]))))(
      tf.tensor1d([0, 0.4, 9]),
    );
    expect(Array.from(g.dataSync())).toEqual([1, 2, 3]);
  });
});
