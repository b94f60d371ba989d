import * as tf from '@tensorflow/tfjs-core';
import { layers, model, models, type SymbolicTensor, input as symbolicInput } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { randomizeWeights, tinyBranchy, tinySequential } from '../../../test-support/models.js';
import {
  type ActivationQuantizer,
  activationQuantizers,
  calibrateActivationRanges,
  type FunctionalJson,
  floatTopology,
  foldBatchNorm,
  functionalTopology,
  integerRange,
  QuantizationError,
  type QuantizedConv2D,
  QuantizedDepthwiseConv2D,
  type QuantizedDepthwiseConv2DArgs,
  quantize,
  quantizeModel,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

const maxAbsDiff = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);

/** Conv (bias) -> BN, depthwise (no bias) -> BN, Dense -> BN: every fold target. */
function foldable() {
  const x = symbolicInput({ name: 'x', shape: [6, 6, 2] });
  const c = layers.conv2d({ name: 'c', filters: 3, kernelSize: 3, padding: 'same' }).apply(x);
  const cbn = layers.batchNormalization({ name: 'c_bn', epsilon: 0.01 }).apply(c);
  const dw = layers
    .depthwiseConv2d({ name: 'dw', kernelSize: 3, depthMultiplier: 2, useBias: false })
    .apply(layers.reLU({ name: 'r' }).apply(cbn));
  const dwbn = layers.batchNormalization({ name: 'dw_bn', center: false }).apply(dw);
  const flat = layers.flatten({ name: 'flat' }).apply(dwbn);
  const d = layers.dense({ name: 'd', units: 4 }).apply(flat);
  const out = layers.batchNormalization({ name: 'd_bn', scale: false }).apply(d);
  const net = model({ name: 'foldable', inputs: x, outputs: out as SymbolicTensor });
  randomizeWeights(net, 7);
  return net;
}

describe('foldBatchNorm', () => {
  it('folds BN into Conv2D, DepthwiseConv2D and Dense (with and without bias, center, scale)', async () => {
    const float = foldable();
    const folded = await foldBatchNorm(float);
    expect(folded.layers.map((l) => l.getClassName())).not.toContain('BatchNormalization');
    expect(folded.getLayer('dw').getWeights()).toHaveLength(2); // gained a bias
    const x = tf.randomNormal([3, 6, 6, 2], 0, 1, 'float32', 3);
    const expected = float.predict(x) as tf.Tensor;
    const actual = folded.predict(x) as tf.Tensor;
    expect(maxAbsDiff(expected, actual)).toBeLessThan(1e-4 * (1 + tf.max(tf.abs(expected)).dataSync()[0]!));
    tf.dispose([x, expected, actual]);
    folded.dispose();
  });

  it('computes the folded kernel and bias by hand for a 1x1 conv', async () => {
    const x = symbolicInput({ shape: [1, 1, 1] });
    const conv = layers.conv2d({ name: 'k', filters: 2, kernelSize: 1 });
    const bn = layers.batchNormalization({ name: 'n', epsilon: 0 });
    const net = model({ inputs: x, outputs: bn.apply(conv.apply(x)) as SymbolicTensor });
    conv.setWeights([tf.tensor4d([2, -3], [1, 1, 1, 2]), tf.tensor1d([1, 0.5])]);
    // gamma, beta, mean, variance
    bn.setWeights([tf.tensor1d([3, 1]), tf.tensor1d([0.25, -1]), tf.tensor1d([0.5, 1.5]), tf.tensor1d([4, 0.25])]);
    const folded = await foldBatchNorm(net);
    const [kernel, bias] = folded.getLayer('k').getWeights();
    // f = gamma / sqrt(var) = [1.5, 2]; kernel * f = [3, -6]; (bias - mean) * f + beta = [1, -3].
    expect(Array.from(kernel!.dataSync())).toEqual([3, -6]);
    expect(Array.from(bias!.dataSync())).toEqual([1, -3]);
    folded.dispose();
  });

  it('names every BN it cannot fold and builds nothing', async () => {
    const sequentialNet = tinySequential();
    let before = tf.memory().numTensors;
    // tinySequential: BN after a conv with a fused ReLU; tinyBranchy folds fine.
    const error = await foldBatchNorm(sequentialNet).catch((e: unknown) => e);
    expect(tf.memory().numTensors).toBe(before);
    expect(error).toBeInstanceOf(QuantizationError);
    expect((error as QuantizationError).problems).toEqual([
      "BatchNormalization 'bn1' cannot be folded: 'c1' applies activation 'relu' before it",
    ]);
    const x = symbolicInput({ name: 'in', shape: [4, 4, 2] });
    const c = layers.conv2d({ name: 'shared_out', filters: 2, kernelSize: 1 }).apply(x) as SymbolicTensor;
    const bn = layers.batchNormalization({ name: 'bn_a' }).apply(c) as SymbolicTensor;
    const add = layers.add({ name: 'sum' }).apply([bn, c]) as SymbolicTensor;
    const bn2 = layers.batchNormalization({ name: 'bn_b' }).apply(add);
    const net = model({ inputs: x, outputs: bn2 as SymbolicTensor });
    before = tf.memory().numTensors;
    const problems = ((await foldBatchNorm(net).catch((e: unknown) => e)) as QuantizationError).problems;
    expect(problems).toEqual([
      "BatchNormalization 'bn_a' cannot be folded: the output of 'shared_out' is used elsewhere too",
      "BatchNormalization 'bn_b' cannot be folded: its input comes from Add 'sum', not a Conv2D, DepthwiseConv2D or Dense",
    ]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('quantizeModel({ foldBatchNorm }) quantizes the folded model', async () => {
    const float = tinyBranchy();
    const q = await quantizeModel(float, { weightBits: 8, activationBits: 8, foldBatchNorm: true });
    expect(q.layers.some((l) => l.getClassName() === 'BatchNormalization')).toBe(false);
    expect((q.getLayer('stem') as QuantizedConv2D).useBias).toBe(true);
    expect(float.getLayer('stem_bn').getClassName()).toBe('BatchNormalization');
    q.dispose();
  });
});

describe('input quantization', () => {
  it('inputBits puts a quantizer right after the input', async () => {
    const q = await quantizeModel(tinyBranchy(), { weightBits: 8, activationBits: 4, inputBits: 8 });
    const [first] = activationQuantizers(q);
    expect(first?.name).toBe('image_quant');
    expect(first?.spec.bits).toBe(8);
    expect(q.getLayer('stem').inboundNodes[0]?.inboundLayers[0]?.name).toBe('image_quant');
    await expect(quantizeModel(tinyBranchy(), { weightBits: 8, activationBits: 4, inputBits: 1 })).rejects.toThrow(
      'config.inputBits: bit width must be an integer from 2 to 16, got 1',
    );
    // Calibrated, the input arrives on an 8-bit grid.
    const x = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 5);
    await calibrateActivationRanges(q, [x]);
    const { min, max } = (first as ActivationQuantizer).rangeState();
    const probe = model({ inputs: q.inputs, outputs: q.getLayer('image_quant').output as SymbolicTensor });
    const onGrid = tf.tidy(() => {
      const y = probe.predict(x) as tf.Tensor;
      // Asymmetric grid over [min, max] (min < 0 < max here): y = (q - zeroPoint) * scale.
      const steps = tf.div(y, (max - min) / 255);
      return tf.max(tf.abs(tf.sub(steps, tf.round(steps)))).dataSync()[0] as number;
    });
    expect(onGrid).toBeLessThan(1e-3);
    x.dispose();
  });
});

describe('kernelOnGrid layers', () => {
  it('use the stored grid as is, expose its parameters and cannot train', async () => {
    const q = await quantizeModel(tinyBranchy(), { weightBits: 4, activationBits: 8 });
    const source = q.getLayer('dw') as QuantizedDepthwiseConv2D;
    const params = source.kernelQuantParams();
    const kernel = source.quantizedKernel();
    expect(params.scale.shape).toEqual([1, 1, 6, 2]);

    const onGrid = new QuantizedDepthwiseConv2D({
      ...(source.getConfig() as unknown as QuantizedDepthwiseConv2DArgs),
      name: 'dw_grid',
      kernelOnGrid: true,
    });
    onGrid.apply(symbolicInput({ shape: [5, 5, 6] }));
    expect(onGrid.trainable).toBe(false);
    expect(onGrid.weights.map((w) => w.originalName)).toEqual([
      'dw_grid/depthwise_kernel',
      'dw_grid/bias',
      'dw_grid/kernel_scale',
      'dw_grid/kernel_zero_point',
    ]);
    onGrid.setWeights([kernel, source.getWeights()[1]!, params.scale, params.zeroPoint]);
    const x = tf.randomNormal([2, 5, 5, 6], 0, 1, 'float32', 9);
    const a = source.apply(x) as tf.Tensor;
    const b = onGrid.apply(x) as tf.Tensor;
    expect(maxAbsDiff(a, b)).toBe(0); // bit-identical
    const again = onGrid.kernelQuantParams();
    const [q1, q2] = [
      quantize(kernel, params, source.weightSpec),
      quantize(onGrid.quantizedKernel(), again, onGrid.weightSpec),
    ];
    expect(Array.from(q2.dataSync())).toEqual(Array.from(q1.dataSync()));
    const { qmax } = integerRange(source.weightSpec);
    expect(Math.max(...q1.dataSync())).toBeLessThanOrEqual(qmax);
    tf.dispose([x, a, b, kernel, q1, q2, params.scale, params.zeroPoint, again.scale, again.zeroPoint]);
  });
});

describe('floatTopology', () => {
  it('gives a stock topology: float classes, no quantizers, consumers rewired', async () => {
    const q = await quantizeModel(tinyBranchy(), { weightBits: 8, activationBits: 8, inputBits: 8 });
    const stock = floatTopology(functionalTopology(q));
    const classNames = stock.config.layers.map((l) => l.class_name);
    expect(classNames).not.toContain('ActivationQuantizer');
    expect(classNames.filter((c) => c.startsWith('Quantized'))).toEqual([]);
    expect(stock.config.layers.find((l) => l.name === 'stem')?.config).not.toHaveProperty('weight_bits');
    const float = await models.modelFromJSON({ modelTopology: stock as never });
    expect(float.getLayer('stem').inboundNodes[0]?.inboundLayers[0]?.name).toBe('image');
    expect(float.getLayer('pad').inboundNodes[0]?.inboundLayers[0]?.name).toBe('stem_relu');
    const original = functionalTopology(tinyBranchy()) as FunctionalJson;
    expect(float.layers.map((l) => l.name)).toEqual(original.config.layers.map((l) => l.name));
    float.dispose();
  });
});
