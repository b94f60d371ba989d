import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, layers, model, sequential, input as symbolicInput } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { randomizeWeights, tinyBranchy, tinySequential } from '../../../test-support/models.js';
import {
  ActivationQuantizer,
  activationQuantizers,
  calibrateActivationRanges,
  copyWeightsByName,
  QuantizationError,
  QuantizedConv2D,
  QuantizedDense,
  QuantizedDepthwiseConv2D,
  quantizeModel,
  withFrozenActivationRanges,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

const classes = (net: LayersModel) => net.layers.map((l) => `${l.name}:${l.getClassName()}`);
const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);

describe('quantizeModel', () => {
  it('rewrites a Sequential model: twins for weight layers, quantizers after every ReLU', async () => {
    const float = tinySequential();
    const before = classes(float);
    const q = await quantizeModel(float, { weightBits: 4, activationBits: 4 });
    expect(classes(q)).toEqual([
      'input1:InputLayer'.replace('input1', q.layers[0]!.name),
      'c1:QuantizedConv2D',
      'c1_quant:ActivationQuantizer',
      'bn1:BatchNormalization',
      'r1:ReLU',
      'r1_quant:ActivationQuantizer',
      'pool:MaxPooling2D',
      'flat:Flatten',
      'drop:Dropout',
      'fc:QuantizedDense',
    ]);
    expect(classes(float)).toEqual(before); // the input model is untouched
    expect(float.getLayer('c1').getClassName()).toBe('Conv2D');
    const qc = q.getLayer('c1') as QuantizedConv2D;
    expect(qc.weightSpec).toEqual({ bits: 4, scheme: 'asymmetric' });
    expect(qc.activation).toBe('relu');
    // Weights are copied, BN statistics included.
    expect(maxAbsDiff(q.getLayer('bn1').getWeights()[3]!, float.getLayer('bn1').getWeights()[3]!)).toBe(0);
    expect(maxAbsDiff(q.getLayer('fc').getWeights()[0]!, float.getLayer('fc').getWeights()[0]!)).toBe(0);
  });

  it('handles branches, Add, Concatenate, ZeroPadding2D, DepthwiseConv2D and ReLU6 Activation layers', async () => {
    const float = tinyBranchy();
    const q = await quantizeModel(float, { weightBits: 8, activationBits: 8 });
    const byClass = (cls: unknown) =>
      q.layers.filter((l) => l instanceof (cls as typeof ActivationQuantizer)).map((l) => l.name);
    expect(byClass(QuantizedConv2D).sort()).toEqual(['down', 'pw', 'skip', 'stem']);
    expect(byClass(QuantizedDepthwiseConv2D)).toEqual(['dw']);
    expect(byClass(QuantizedDense)).toEqual(['logits']);
    expect(activationQuantizers(q).map((a) => a.name)).toEqual(['stem_relu_quant', 'dw_quant', 'sum_relu6_quant']);
    // The quantizer after stem_relu feeds both consumers of stem_relu (pad and skip).
    const consumers = q.layers.filter((l) =>
      l.inboundNodes.some((n) => n.inboundLayers.some((src) => src.name === 'stem_relu_quant')),
    );
    expect(consumers.map((l) => l.name).sort()).toEqual(['pad', 'skip']);
  });

  it('matches the float model at 16 bits after calibration, and drifts at 2 bits', async () => {
    const float = tinyBranchy();
    const x = tf.randomNormal([8, 9, 9, 3], 0, 1, 'float32', 5);
    const reference = float.predict(x) as tf.Tensor;
    const scale = tf.max(tf.abs(reference)).dataSync()[0] as number;
    const q16 = await quantizeModel(float, { weightBits: 16, activationBits: 16, activationObserver: 'minmax' });
    await calibrateActivationRanges(q16, [x]);
    expect(maxAbsDiff(q16.predict(x) as tf.Tensor, reference) / scale).toBeLessThan(1e-3);
    const q2 = await quantizeModel(float, { weightBits: 2, activationBits: 2 });
    await calibrateActivationRanges(q2, [x]);
    expect(maxAbsDiff(q2.predict(x) as tf.Tensor, reference) / scale).toBeGreaterThan(1e-2);
  });

  it('applies per-layer overrides and skips', async () => {
    const q = await quantizeModel(tinyBranchy(), {
      weightBits: 4,
      activationBits: 4,
      layers: { stem: { skip: true }, logits: { weightBits: 8 }, sum_relu6: { activationBits: 6 }, dw: { skip: true } },
    });
    expect(q.getLayer('stem').getClassName()).toBe('Conv2D');
    expect(q.getLayer('dw').getClassName()).toBe('DepthwiseConv2D');
    expect((q.getLayer('logits') as QuantizedDense).weightSpec.bits).toBe(8);
    expect((q.getLayer('pw') as QuantizedConv2D).weightSpec.bits).toBe(4);
    expect(activationQuantizers(q).map((a) => [a.name, a.spec.bits])).toEqual([
      ['stem_relu_quant', 4],
      ['sum_relu6_quant', 6],
    ]);
  });

  it('lists every bad override and option in one error', async () => {
    const net = tinyBranchy();
    const attempt = quantizeModel(net, {
      weightBits: 1,
      activationBits: 4,
      emaDecay: 2,
      layers: {
        nope: { skip: true },
        stem_relu: { weightBits: 4 },
        pw: { activationBits: 4 },
        gap: { skip: true },
        down: { weightBits: 40 },
      },
    });
    await expect(attempt).rejects.toThrow(QuantizationError);
    const problems = ((await attempt.catch((e: unknown) => e)) as QuantizationError).problems;
    expect(problems).toEqual([
      'config.weightBits: bit width must be an integer from 2 to 16, got 1',
      'config.emaDecay must be in [0, 1), got 2',
      "config.layers['nope']: the model has no layer named 'nope'",
      "config.layers['stem_relu']: weightBits given, but ReLU has no kernel",
      "config.layers['pw']: activationBits given, but 'pw' does not end in a ReLU",
      "config.layers['gap']: GlobalAveragePooling2D is not quantized; overrides apply to Conv2D, DepthwiseConv2D, Dense and ReLU layers",
      "config.layers['down'].weightBits: bit width must be an integer from 2 to 16, got 40",
    ]);
  });

  it('names every unsupported layer at once and builds nothing', async () => {
    const inp = symbolicInput({ shape: [8, 8, 3] });
    const a = layers.conv2dTranspose({ name: 'up', filters: 2, kernelSize: 3 }).apply(inp);
    const b = layers.separableConv2d({ name: 'sep', filters: 2, kernelSize: 3 }).apply(a);
    const c = layers.conv2d({ name: 'ok', filters: 2, kernelSize: 1 }).apply(b);
    const net = model({ inputs: inp, outputs: c as never });
    const tensors = tf.memory().numTensors;
    await expect(quantizeModel(net, { weightBits: 4, activationBits: 4 })).rejects.toThrow(
      /layer 'up' \(Conv2DTranspose\) is not supported\n {2}- layer 'sep' \(SeparableConv2D\) is not supported$/,
    );
    expect(tf.memory().numTensors).toBe(tensors);
  });

  it('refuses an already quantized model and channels_first convolutions', async () => {
    const q = await quantizeModel(tinySequential(), { weightBits: 4, activationBits: 4 });
    await expect(quantizeModel(q, { weightBits: 4, activationBits: 4 })).rejects.toThrow(
      /layer 'c1' \(QuantizedConv2D\) is already quantized/,
    );
    const cf = sequential({
      layers: [
        layers.conv2d({ name: 'cf', inputShape: [3, 8, 8], filters: 2, kernelSize: 3, dataFormat: 'channelsFirst' }),
      ],
    });
    await expect(quantizeModel(cf, { weightBits: 4, activationBits: 4 })).rejects.toThrow(
      /layer 'cf' \(Conv2D\): data_format 'channels_first' is not supported/,
    );
  });

  it('quantizes a shared layer once and every call of it', async () => {
    const inp = symbolicInput({ shape: [4] });
    const shared = layers.dense({ name: 'shared', units: 4, activation: 'relu' });
    const out = layers.dense({ name: 'head', units: 2 }).apply(shared.apply(shared.apply(inp)));
    const net = model({ inputs: inp, outputs: out as never });
    randomizeWeights(net);
    const q = await quantizeModel(net, { weightBits: 16, activationBits: 16 });
    expect(classes(q).slice(1)).toEqual([
      'shared:QuantizedDense',
      'shared_quant:ActivationQuantizer',
      'head:QuantizedDense',
    ]);
    const x = tf.randomNormal([3, 4], 0, 1, 'float32', 2);
    await calibrateActivationRanges(q, [x]);
    const ref = net.predict(x) as tf.Tensor;
    expect(maxAbsDiff(q.predict(x) as tf.Tensor, ref)).toBeLessThan(
      1e-3 * (tf.max(tf.abs(ref)).dataSync()[0] as number),
    );
  });

  it('calibration observes each batch once, then freezes', async () => {
    const q = await quantizeModel(tinySequential(), { weightBits: 8, activationBits: 8 });
    const batches = [0, 1, 2].map((i) => tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', i));
    expect(await calibrateActivationRanges(q, batches)).toBe(3);
    for (const a of activationQuantizers(q)) {
      expect(a.frozen).toBe(true);
      expect(a.rangeState().observedBatches).toBe(3);
    }
    await expect(calibrateActivationRanges(q, [])).rejects.toThrow(/no calibration batch/);
    await expect(calibrateActivationRanges(tinySequential(), batches)).rejects.toThrow(/has no ActivationQuantizer/);
  });

  it('withFrozenActivationRanges evaluates mid-calibration without moving the ranges', async () => {
    const q = await quantizeModel(tinySequential(), { weightBits: 8, activationBits: 8 });
    await calibrateActivationRanges(q, [tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 1)], { freeze: false });
    const before = activationQuantizers(q).map((a) => a.rangeState());
    // Inputs ten times wider would widen every range if observed.
    const wide = tf.randomNormal([4, 8, 8, 3], 0, 10, 'float32', 2);
    const out = withFrozenActivationRanges(q, () => tf.tidy(() => (q.predict(wide) as tf.Tensor).shape));
    expect(out).toEqual([4, 5]);
    // An asynchronous use keeps the ranges fixed until it settles.
    const pending = withFrozenActivationRanges(q, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1));
      return tf.tidy(() => (q.predict(wide) as tf.Tensor).shape);
    });
    expect(activationQuantizers(q).every((a) => a.frozen)).toBe(true);
    expect(await pending).toEqual([4, 5]);
    expect(activationQuantizers(q).map((a) => a.rangeState())).toEqual(before);
    expect(activationQuantizers(q).every((a) => !a.frozen)).toBe(true);
    // Still calibrating afterwards: the next forward is observed.
    tf.tidy(() => q.predict(wide));
    expect(activationQuantizers(q)[0]!.rangeState().observedBatches).toBe(2);
    expect(activationQuantizers(q)[0]!.rangeState().max).toBeGreaterThan(before[0]!.max);
    // A range frozen before stays frozen; the others are restored when `use` throws or rejects.
    activationQuantizers(q)[0]!.freeze();
    expect(() =>
      withFrozenActivationRanges(q, () => {
        throw new Error('evaluation failed');
      }),
    ).toThrow('evaluation failed');
    expect(activationQuantizers(q).map((a) => a.frozen)).toEqual([true, false]);
    await expect(withFrozenActivationRanges(q, () => Promise.reject(new Error('later')))).rejects.toThrow('later');
    expect(activationQuantizers(q).map((a) => a.frozen)).toEqual([true, false]);
  });

  it('trains (straight-through) without leaking tensors across iterations', async () => {
    const q = await quantizeModel(tinyBranchy(), { weightBits: 4, activationBits: 4 });
    const x = tf.randomNormal([4, 9, 9, 3], 0, 1, 'float32', 9);
    const y = tf.randomNormal([4, 4], 0, 1, 'float32', 10);
    await calibrateActivationRanges(q, [x]);
    const optimizer = tf.train.sgd(0.01);
    const kernelBefore = q.getLayer('stem').getWeights()[0]!.clone();
    const losses: number[] = [];
    let tensorsAtStep2 = 0;
    for (let step = 1; step <= 6; step++) {
      const loss = optimizer.minimize(() => tf.losses.meanSquaredError(y, q.apply(x) as tf.Tensor) as tf.Scalar, true);
      losses.push(loss!.dataSync()[0] as number);
      loss!.dispose();
      if (step === 2) tensorsAtStep2 = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(tensorsAtStep2);
    expect(maxAbsDiff(q.getLayer('stem').getWeights()[0]!, kernelBefore)).toBeGreaterThan(0);
    expect(losses[5]).toBeLessThan(losses[0]!);
  });

  it('disposes cleanly: quantize + predict + dispose leaves the tensor count unchanged', async () => {
    const float = tinySequential();
    const x = tf.randomNormal([2, 8, 8, 3]);
    const before = tf.memory().numTensors;
    const q = await quantizeModel(float, { weightBits: 4, activationBits: 4 });
    await calibrateActivationRanges(q, [x]);
    tf.dispose(q.predict(x) as tf.Tensor);
    q.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe('activation quantizers in a model', () => {
  it('see the ReLU output: non-negative ranges after calibration', async () => {
    const q = await quantizeModel(tinyBranchy(), { weightBits: 8, activationBits: 8 });
    await calibrateActivationRanges(q, [tf.randomNormal([4, 9, 9, 3], 0, 1, 'float32', 3)]);
    for (const a of activationQuantizers(q)) {
      const { min, max } = a.rangeState();
      expect(min).toBeGreaterThanOrEqual(0);
      expect(max).toBeGreaterThan(0);
      if (a.name === 'sum_relu6_quant' || a.name === 'dw_quant') expect(max).toBeLessThanOrEqual(6);
    }
    expect(q.getLayer('sum_relu6_quant')).toBeInstanceOf(ActivationQuantizer);
  });
});

describe('copyWeightsByName', () => {
  it('copies weights layer by layer, and disposes the target when a layer does not fit', () => {
    const build = (units: number) => sequential({ layers: [layers.dense({ inputShape: [3], units, name: 'fc' })] });
    const [source, twin, wrong] = [build(2), build(2), build(4)];
    expect(copyWeightsByName(source, twin)).toBe(twin);
    expect(Array.from(twin.getWeights()[0]!.dataSync())).toEqual(Array.from(source.getWeights()[0]!.dataSync()));
    const before = tf.memory().numTensors;
    expect(() => copyWeightsByName(source, wrong)).toThrow(/shape/i);
    expect(tf.memory().numTensors).toBe(before - 2); // wrong's kernel and bias
    [source, twin].forEach((m) => m.dispose());
  });
});
