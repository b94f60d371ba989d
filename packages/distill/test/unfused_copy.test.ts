import * as tf from '@tensorflow/tfjs-core';
import { input, type LayersModel, layers, model, type SymbolicTensor, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { TeacherTaps, unfusedCopy } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

/** A residual teacher: strided conv with bias and fused ReLU, conv + BN, Add, Dense head. */
function residualTeacher(): LayersModel {
  const x = input({ shape: [7, 7, 3], name: 'image' });
  const a = layers
    .conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'c1' })
    .apply(x) as SymbolicTensor;
  const b = layers.conv2d({ filters: 4, kernelSize: 1, useBias: false, name: 'c2' }).apply(a) as SymbolicTensor;
  const bn = layers.batchNormalization({ name: 'bn' }).apply(b) as SymbolicTensor;
  const sum = layers.add({ name: 'add' }).apply([a, bn]) as SymbolicTensor;
  const pooled = layers.globalAveragePooling2d({ name: 'gap' }).apply(sum) as SymbolicTensor;
  const hidden = layers.dense({ units: 5, activation: 'relu', name: 'fc1' }).apply(pooled) as SymbolicTensor;
  const logits = layers.dense({ units: 3, name: 'fc2' }).apply(hidden) as SymbolicTensor;
  const net = model({ inputs: x, outputs: logits, name: 'teacher' });
  // Non-trivial BN statistics, so inference mode differs from identity.
  tf.tidy(() =>
    net
      .getLayer('bn')
      .setWeights([
        tf.tensor1d([1, 2, 0.5, 1]),
        tf.tensor1d([0.1, 0, -0.2, 0.3]),
        tf.randomNormal([4]),
        tf.fill([4], 2),
      ]),
  );
  return net;
}

/** The kernels run, in order, while taking the gradient of `f` with respect to its input. */
async function gradientKernels(f: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor): Promise<string[]> {
  const info = await tf.profile(() => tf.grad((v: tf.Tensor) => tf.sum(f(v)))(x));
  return info.kernels.map((k) => k.name);
}

const values = (t: tf.Tensor) => Array.from(t.dataSync());

describe('unfusedCopy', () => {
  it('gives the same outputs and input gradients as the original, functional and Sequential', () => {
    const seq = sequential({
      layers: [
        layers.dense({ inputShape: [4, 6], units: 5, activation: 'relu', name: 'd3' }), // rank-3 input
        layers.flatten(),
        layers.dense({ units: 2, name: 'out' }),
      ],
    });
    for (const [net, x] of [
      [residualTeacher(), tf.randomNormal([2, 7, 7, 3], 0, 1, 'float32', 3)],
      [seq, tf.randomNormal([3, 4, 6], 0, 1, 'float32', 4)],
    ] as const) {
      const copy = unfusedCopy(net);
      expect(net.layers.map((l) => copy.getLayer(l.name).getClassName())).toEqual(
        net.layers.map((l) => l.getClassName()),
      );
      expect(copy.layers.filter((l) => /^Unfused/.test(l.constructor.name))).toHaveLength(net === seq ? 2 : 4);
      const run = (m: LayersModel) => (v: tf.Tensor) => m.apply(v, { training: false }) as tf.Tensor;
      const [y, yCopy] = [run(net)(x), run(copy)(x)];
      expect(yCopy.shape).toEqual(y.shape);
      values(yCopy).forEach((v, i) => expect(v).toBeCloseTo(values(y)[i] as number, 5));
      const [g, gCopy] = [
        tf.grad((v: tf.Tensor) => tf.sum(tf.square(run(net)(v))))(x),
        tf.grad((v: tf.Tensor) => tf.sum(tf.square(run(copy)(v))))(x),
      ];
      values(gCopy).forEach((v, i) => expect(v).toBeCloseTo(values(g)[i] as number, 5));
      copy.dispose();
    }
  });

  it('computes no weight gradient when differentiated to its input (the original does)', async () => {
    const net = residualTeacher();
    const copy = unfusedCopy(net);
    const x = tf.randomNormal([2, 7, 7, 3]);
    const run = (m: LayersModel) => (v: tf.Tensor) => m.apply(v, { training: false }) as tf.Tensor;
    const original = await gradientKernels(run(net), x);
    expect(original).toContain('Conv2DBackpropFilter');
    const unfused = await gradientKernels(run(copy), x);
    expect(unfused).toContain('Conv2DBackpropInput');
    expect(unfused).not.toContain('Conv2DBackpropFilter');
    expect(unfused.filter((k) => ['FusedConv2D', '_FusedMatMul'].includes(k))).toEqual([]);
    // Dense: one matrix product forward and one for the input gradient per layer, none for the kernel.
    expect(unfused.filter((k) => k === 'BatchMatMul')).toHaveLength(4);
    copy.dispose();
  });

  it('owns its weights: the original is unchanged by training or disposing the copy', () => {
    const net = residualTeacher();
    const x = tf.randomNormal([1, 7, 7, 3]);
    const predict = () => tf.tidy(() => values(net.predict(x) as tf.Tensor));
    const before = predict();
    const baseline = tf.memory().numTensors;
    const copy = unfusedCopy(net);
    tf.tidy(() =>
      copy.getLayer('c1').setWeights(
        copy
          .getLayer('c1')
          .getWeights()
          .map((w) => tf.zerosLike(w)),
      ),
    );
    expect(predict()).toEqual(before);
    copy.dispose();
    expect(tf.memory().numTensors).toBe(baseline);
    expect(predict()).toEqual(before);
  });

  it('TeacherTaps differentiates the teacher to its images without filter gradients', async () => {
    const net = residualTeacher();
    const taps = new TeacherTaps(net);
    const x = tf.randomNormal([2, 7, 7, 3]);
    const kernels = await gradientKernels((v) => {
      const { logits, stats } = taps.forward(v);
      return tf.addN([tf.sum(logits), ...stats.map((s) => tf.sum(s.variance))]);
    }, x);
    expect(kernels).toContain('Conv2DBackpropInput');
    expect(kernels).not.toContain('Conv2DBackpropFilter');
    const baseline = tf.memory().numTensors;
    taps.dispose();
    // The copy's 11 weights (c1 kernel and bias, c2 kernel, BN's four, fc1 and fc2 kernel
    // and bias) and the two running statistics.
    expect(baseline - tf.memory().numTensors).toBe(11 + 2);
  });
});
