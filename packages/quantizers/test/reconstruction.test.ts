import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, layers, model, type SymbolicTensor, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { randomizeWeights, tinyBranchy } from '../../../test-support/models.js';
import {
  type ActivationQuantizer,
  calibrateActivationRanges,
  largestUnitElements,
  QuantizedWeightLayer,
  quantizeModel,
  reconstructRounding,
  SoftRounding,
} from '../src/index.js';
import { blockUnits } from '../src/model/reconstruction_units.js';

beforeAll(() => useBackend('cpu'));

/** A 4-input, 1-output linear Dense without bias, with the given kernel column. */
function dense(kernel: number[]): LayersModel {
  const net = sequential({ layers: [layers.dense({ name: 'fc', inputShape: [4], units: 1, useBias: false })] });
  net.layers[0]?.setWeights([tf.tensor2d(kernel, [4, 1])]);
  return net;
}

/** A model's input shape without the batch axis. */
const imageShape = (net: LayersModel) => (net.inputs[0]?.shape ?? []).slice(1) as number[];

function weightLayer(student: LayersModel, name: string): QuantizedWeightLayer {
  const layer = student.getLayer(name);
  if (!(layer instanceof QuantizedWeightLayer)) throw new Error(`${name} is not quantized`);
  return layer;
}

describe('SoftRounding', () => {
  // 2-bit asymmetric over [-1, 2]: scale 1, zero point 1, grid {-1, 0, 1, 2}.
  const spec = { bits: 2, scheme: 'asymmetric' } as const;
  const kernel = () => tf.tensor2d([-1, 0.45, 0.3, 2], [4, 1]);
  const range = () => ({ min: tf.tensor2d([-1], [1, 1]), max: tf.tensor2d([2], [1, 1]) });

  it('starts at the float kernel and rounds by the sign of its logits, keeping the range ends', () => {
    const rounding = new SoftRounding(kernel(), range(), spec);
    // Soft rounding starts at the fractional part (clipped to [0.01, 0.99]); the ends keep their value.
    expect(Array.from(rounding.softKernel().dataSync())).toEqual([-1, 0.45, 0.3, 2].map((v) => expect.closeTo(v, 5)));
    // Both middle elements start below one half: they round down, as to nearest.
    expect(Array.from(rounding.hardKernel().dataSync())).toEqual([-1, 0, 0, 2]);
    expect(rounding.changedShare()).toBe(0);
    rounding.logits.assign(tf.tensor2d([-5, -5, 5, 5], [4, 1]));
    expect(Array.from(rounding.hardKernel().dataSync())).toEqual([-1, 0, 1, 2]);
    expect(Array.from(rounding.masterKernel().dataSync())).toEqual([-1, 0, 1, 2]);
    expect(rounding.changedShare()).toBe(0.25);
    rounding.dispose();
  });

  it('has the regularizer 1 - |2h - 1|^beta summed: 1 per undecided element, 0 when decided', () => {
    const rounding = new SoftRounding(kernel(), range(), spec);
    // h(V) = clip(1.2 sigmoid(V) - 0.1, 0, 1): V = 0 gives h = 0.5, V = +-10 gives 1 and 0.
    rounding.logits.assign(tf.tensor2d([0, 0, 10, -10], [4, 1]));
    expect(rounding.regularizer(2).dataSync()[0]).toBeCloseTo(2, 5);
    // h = 1.2 sigmoid(1) - 0.1 for V = 1: |2h - 1|^2 by hand.
    rounding.logits.assign(tf.tensor2d([1, 10, 10, -10], [4, 1]));
    const h = 1.2 / (1 + Math.exp(-1)) - 0.1;
    expect(rounding.regularizer(2).dataSync()[0]).toBeCloseTo(1 - (2 * h - 1) ** 2, 5);
    rounding.dispose();
  });

  it('gives a hard kernel that a layer quantizes to exactly itself, with the same ranges', async () => {
    const student = await quantizeModel(tinyBranchy(), { weightBits: 3, activationBits: 8, weightRange: 'mse' });
    for (const layer of student.layers.filter((l): l is QuantizedWeightLayer => l instanceof QuantizedWeightLayer)) {
      const original = layer.kernelWeight.read().clone();
      const before = layer.kernelRange(original);
      const rounding = new SoftRounding(original, before, layer.weightSpec);
      rounding.logits.assign(tf.randomNormal(rounding.logits.shape, 0, 3, 'float32', 5));
      const hard = rounding.hardKernel();
      layer.kernelWeight.write(rounding.masterKernel());
      const after = layer.kernelRange(layer.kernelWeight.read());
      expect(Array.from(after.min.dataSync())).toEqual(Array.from(before.min.dataSync()));
      expect(Array.from(after.max.dataSync())).toEqual(Array.from(before.max.dataSync()));
      expect(Array.from(layer.quantizedKernel().dataSync())).toEqual(Array.from(hard.dataSync()));
      // Some elements were rounded against nearest, each by one grid step at most.
      expect(rounding.changedShare()).toBeGreaterThan(0.1);
      const { scale } = layer.kernelQuantParams();
      expect(tf.max(tf.div(tf.abs(tf.sub(hard, original)), scale)).dataSync()[0]).toBeLessThanOrEqual(1 + 1e-5);
      tf.dispose([original, before.min, before.max, after.min, after.max, hard, scale]);
      rounding.dispose();
    }
    student.dispose();
  });
});

/**
 * hidden = relu(x) on [0, 2] feeding out = hidden0 - hidden1, with the 3-bit range of
 * 'hidden_quant' set to [0, 0.7], which clips most of it; and its 64 input images.
 */
function clippedTwoLayer(): { teacher: LayersModel; images: tf.Tensor; student: () => Promise<LayersModel> } {
  const input = layers.input({ shape: [2] });
  const hidden = layers.dense({ name: 'hidden', units: 2, activation: 'relu', useBias: false }).apply(input);
  const out = layers.dense({ name: 'out', units: 1, useBias: false }).apply(hidden);
  const teacher = model({ inputs: input, outputs: out as SymbolicTensor });
  teacher.getLayer('hidden').setWeights([tf.tensor2d([1, 0, 0, 1], [2, 2])]);
  teacher.getLayer('out').setWeights([tf.tensor2d([1, -1], [2, 1])]);
  const images = tf.tensor2d(
    Array.from({ length: 64 }, (_, i) => [(i % 8) / 3.5, Math.floor(i / 8) / 3.5]).flat(),
    [64, 2],
  );
  const student = async () => {
    const built = await quantizeModel(teacher, { weightBits: 8, activationBits: 3 });
    await calibrateActivationRanges(built, [images]);
    (built.getLayer('hidden_quant') as ActivationQuantizer).setRange(0, 0.7);
    return built;
  };
  return { teacher, images, student };
}

/** tinyBranchy with seed-3 weights, its W3A4 student calibrated on 16 seeded images. */
async function branchyW3A4(): Promise<{ teacher: LayersModel; student: LayersModel; images: tf.Tensor }> {
  const teacher = tinyBranchy();
  randomizeWeights(teacher, 3);
  const student = await quantizeModel(teacher, { weightBits: 3, activationBits: 4, weightRange: 'mse' });
  const images = tf.randomNormal([16, ...imageShape(teacher)], 0, 1, 'float32', 9);
  await calibrateActivationRanges(student, [images]);
  return { teacher, student, images };
}

/** Mean squared difference of two models' outputs on the images. */
function meanSquaredOutputError(student: LayersModel, teacher: LayersModel, images: tf.Tensor): number {
  return tf.tidy(
    () =>
      tf
        .mean(tf.square(tf.sub(student.predict(images) as tf.Tensor, teacher.predict(images) as tf.Tensor)))
        .dataSync()[0] as number,
  );
}

const quantizerRange = (net: LayersModel) => (net.getLayer('hidden_quant') as ActivationQuantizer).rangeState();

describe('reconstructRounding', () => {
  it('rounds a weight against nearest where that brings the output closer to the float one', async () => {
    // Output 0.4 + 0.35 = 0.75 in float. Rounding both middle weights to nearest (down)
    // gives 0 (error 0.5625); rounding one of them up gives 1 (error 0.0625), both 2.
    const teacher = dense([-1, 0.4, 0.35, 2]);
    const student = await quantizeModel(teacher, { weightBits: 2, activationBits: 8 });
    const images = tf.tile(tf.tensor2d([[0, 1, 1, 0]]), [8, 1]);
    const before = tf.memory().numTensors;
    const report = await reconstructRounding(student, teacher, images, { batchSize: 4 });
    expect(tf.memory().numTensors).toBe(before);
    const [low, a, b, high] = Array.from(weightLayer(student, 'fc').quantizedKernel().dataSync());
    expect([low, (a as number) + (b as number), high]).toEqual([-1, 1, 2]);
    expect((student.predict(images) as tf.Tensor).dataSync()[0]).toBeCloseTo(1, 6);
    const [layer] = report.layers;
    expect(layer).toMatchObject({ name: 'fc', kept: true, changed: 0.25, iterations: 1000 });
    expect(layer?.errorBefore).toBeCloseTo(0.5625, 6);
    expect(layer?.errorAfter).toBeCloseTo(0.0625, 6);
    expect(report.aborted).toBe(false);
  });

  it('learns a rounding no worse than nearest in every layer of a branchy model, on its own inputs', async () => {
    const { teacher, student, images } = await branchyW3A4();
    const outputError = () => meanSquaredOutputError(student, teacher, images);
    const nearest = outputError();
    const report = await reconstructRounding(student, teacher, images, { iterations: 50, batchSize: 8 });
    expect(report.layers.map((l) => l.name)).toEqual(
      student.layers.filter((l) => l instanceof QuantizedWeightLayer).map((l) => l.name),
    );
    for (const layer of report.layers) expect(layer.errorAfter).toBeLessThanOrEqual(layer.errorBefore);
    expect(report.layers.some((l) => l.kept && l.errorAfter < 0.9 * l.errorBefore)).toBe(true);
    expect(outputError()).toBeLessThan(nearest);
  });

  it("measures each layer on the student's inputs as the layers before it left them", async () => {
    const { teacher, student, images } = await branchyW3A4();
    const names = student.layers.filter((l) => l instanceof QuantizedWeightLayer).map((l) => l.name);
    // The unit's error as the model stands: the stem's unit ends at its ReLU, the others at the layer.
    const errorNow = (name: string) =>
      tf.tidy(() => {
        const end = name === 'stem' ? 'stem_relu' : name;
        const upTo = (net: LayersModel) =>
          model({ inputs: net.inputs, outputs: net.getLayer(end).output as SymbolicTensor }).predict(
            images,
          ) as tf.Tensor;
        return tf.mean(tf.square(tf.sub(upTo(student), upTo(teacher)))).dataSync()[0] as number;
      });
    const expected = [errorNow(names[0] as string)];
    const report = await reconstructRounding(student, teacher, images, {
      iterations: 30,
      batchSize: 8,
      learnActivationSteps: false,
      onLayer: (_, index) => {
        const next = names[index + 1];
        if (next) expected.push(errorNow(next));
      },
    });
    // Roundings were kept before the last layer, so stale inputs would show.
    expect(report.layers.slice(0, -1).some((l) => l.kept && l.changed > 0)).toBe(true);
    expect(report.layers).toHaveLength(expected.length);
    report.layers.forEach((layer, i) => {
      expect(Math.abs(layer.errorBefore - (expected[i] as number))).toBeLessThanOrEqual(1e-5 * (expected[i] as number));
    });
  });

  it("learns the step size of the quantizer feeding a layer, for that layer's output", async () => {
    const { teacher, images, student } = clippedTwoLayer();
    const fixed = await student();
    const plain = await reconstructRounding(fixed, teacher, images, { learnActivationSteps: false, iterations: 300 });
    expect(plain.layers[1]?.quantizers).toEqual([]);
    expect(quantizerRange(fixed)).toMatchObject({ min: 0, max: expect.closeTo(0.7, 6) });

    const learned = await student();
    const before = tf.memory().numTensors;
    const report = await reconstructRounding(learned, teacher, images, { iterations: 300, stepLearningRate: 0.02 });
    expect(tf.memory().numTensors).toBe(before);
    const [first, second] = report.layers;
    expect(first?.quantizers).toEqual([]); // fed by the network input
    expect(second?.quantizers).toMatchObject([{ name: 'hidden_quant', scaleBefore: expect.closeTo(0.1, 6) }]);
    const scale = second?.quantizers[0]?.scaleAfter as number;
    expect(scale).toBeGreaterThan(0.2); // widened towards the values' [0, 2]
    expect(second?.errorAfter).toBeLessThan(0.25 * (second?.errorBefore as number));
    expect(second?.errorAfter).toBeLessThan(0.5 * (plain.layers[1]?.errorAfter as number));
    // The quantizer now holds the learned step on its grid [0, 7].
    const range = quantizerRange(learned);
    expect(range.min).toBe(0);
    expect(range.max).toBeCloseTo(7 * scale, 5);
  });

  it('drops quantization of input elements at the given rate, reproducibly for a seed (QDrop)', async () => {
    const { teacher, images, student } = clippedTwoLayer();
    const options = { iterations: 100, stepLearningRate: 0.02 };
    // Every element in float: the step size gets no gradient and stays.
    const always = await reconstructRounding(await student(), teacher, images, { ...options, dropQuantization: 1 });
    expect(always.layers[1]?.quantizers[0]?.scaleAfter).toBe(always.layers[1]?.quantizers[0]?.scaleBefore);
    // Half of them: the step still learns, and the same seed gives the same result.
    const scales: number[] = [];
    for (const seed of [7, 7, 8]) {
      const report = await reconstructRounding(await student(), teacher, images, {
        ...options,
        dropQuantization: 0.5,
        seed,
      });
      scales.push(report.layers[1]?.quantizers[0]?.scaleAfter as number);
    }
    expect(scales[0]).toBeGreaterThan(0.15);
    expect(scales[1]).toBe(scales[0]);
    expect(scales[2]).not.toBe(scales[0]);
    await expect(reconstructRounding(await student(), teacher, images, { dropQuantization: 1.5 })).rejects.toThrow(
      'reconstructRounding: dropQuantization must be in [0, 1], got 1.5',
    );
  });

  it('learns no step where the quantizer also feeds another layer (a residual branch)', async () => {
    const teacher = tinyBranchy();
    const student = await quantizeModel(teacher, { weightBits: 4, activationBits: 4 });
    const images = tf.randomNormal([8, ...imageShape(teacher)], 0, 1, 'float32', 4);
    await calibrateActivationRanges(student, [images]);
    const report = await reconstructRounding(student, teacher, images, { iterations: 12 });
    // stem_relu_quant feeds 'down' (through padding) and 'skip'; sum_relu6_quant reaches
    // 'logits' through a Concatenate; dw_quant feeds 'pw' alone.
    expect(Object.fromEntries(report.layers.map((l) => [l.name, l.quantizers[0]?.name ?? null]))).toEqual({
      stem: null,
      down: null,
      dw: null,
      pw: 'dw_quant',
      skip: null,
      logits: null,
    });
  });

  it('shares a time budget among the layers: each takes at least its 10 timing steps, none starts after it', async () => {
    const teacher = tinyBranchy();
    const student = await quantizeModel(teacher, { weightBits: 3, activationBits: 8 });
    const images = tf.randomNormal([8, ...imageShape(teacher)], 0, 1, 'float32', 2);
    await calibrateActivationRanges(student, [images]);
    // A budget spent by the first layer: it takes at least its 10 timing steps, and the
    // layers that would start after it keep rounding to nearest.
    const slowLayer = () => {
      const until = Date.now() + 300;
      while (Date.now() < until);
    };
    const spent = await reconstructRounding(student, teacher, images, {
      timeBudgetMs: 200,
      batchSize: 8,
      onLayer: slowLayer,
    });
    expect(spent.layers.length).toBe(1);
    expect(spent.layers[0]?.iterations).toBeGreaterThanOrEqual(10);
    // A budget that allows more than asked for changes nothing: each layer takes `iterations`.
    const roomy = await reconstructRounding(student, teacher, images, { timeBudgetMs: 600_000, iterations: 12 });
    for (const layer of roomy.layers) expect(layer.iterations).toBe(12);
    expect(roomy.layers.length).toBeGreaterThan(2);
    expect(spent.skipped.map((s) => s.reason)).toEqual(
      new Array(roomy.layers.length - 1).fill('the time budget was spent'),
    );
    await expect(reconstructRounding(student, teacher, images, { timeBudgetMs: 0 })).rejects.toThrow(
      'reconstructRounding: timeBudgetMs must be a positive number, got 0',
    );
  });

  it('refuses a student whose activation ranges still calibrate, naming the quantizer', async () => {
    const teacher = tinyBranchy();
    const student = await quantizeModel(teacher, { weightBits: 4, activationBits: 4 });
    const images = tf.zeros([2, ...imageShape(teacher)]);
    const before = tf.memory().numTensors;
    await expect(reconstructRounding(student, teacher, images)).rejects.toThrow(
      /activation quantizer '.*_quant' is not frozen/,
    );
    await expect(reconstructRounding(student, teacher, images, { iterations: 0 })).rejects.toThrow(
      /iterations must be a positive integer, got 0/,
    );
    expect(tf.memory().numTensors, 'a refusal leaked tensors').toBe(before);
  });

  it('stops at an abort and leaves the kernels on their grid', async () => {
    const teacher = dense([-1, 0.45, 0.3, 2]);
    const student = await quantizeModel(teacher, { weightBits: 2, activationBits: 8 });
    const images = tf.tile(tf.tensor2d([[0, 1, 0.5, 0]]), [8, 1]);
    const controller = new AbortController();
    controller.abort();
    const report = await reconstructRounding(student, teacher, images, { signal: controller.signal });
    expect(report).toMatchObject({ aborted: true, layers: [] });
    expect(Array.from(weightLayer(student, 'fc').kernelWeight.read().dataSync())).toEqual(
      [-1, 0.45, 0.3, 2].map((v) => expect.closeTo(v, 6)),
    );
  });
});

describe('block-wise reconstruction', () => {
  it('cuts the model where one value crosses, keeps residual branches in one block, ends a block after its BN and ReLU', async () => {
    const { student } = await branchyW3A4();
    const { units, skipped } = blockUnits(student, true);
    // The stem's unit ends at its ReLU; the residual part (down, dw, pw and the skip
    // branch, up to the Concatenate that still reads 'skip') is one block; the pooling
    // joins the classifier's block rather than ending the one before.
    expect(units.map((u) => [u.layers.map((l) => l.name), u.output.name])).toEqual([
      [['stem'], 'stem_relu'],
      [['down', 'dw', 'pw', 'skip'], 'cat'],
      [['logits'], 'logits'],
    ]);
    expect(units.map((u) => u.quantizers.map((q) => q.name))).toEqual([
      [],
      ['stem_relu_quant', 'dw_quant', 'sum_relu6_quant'],
      [],
    ]);
    expect(units[1]?.input).toBe(student.getLayer('stem_relu').output);
    expect(skipped).toEqual([]);
    expect(blockUnits(student, false).units.map((u) => u.quantizers)).toEqual([[], [], []]);
  });

  it("computes a block's output as the model does, from the block's input", async () => {
    const { student, images } = await branchyW3A4();
    const before = tf.memory().numTensors;
    for (const unit of blockUnits(student, true).units) {
      tf.tidy(() => {
        const view = model({ inputs: student.inputs, outputs: [unit.input, unit.output.output as SymbolicTensor] });
        const [x, expected] = view.predict(images) as tf.Tensor[];
        const kernels = unit.layers.map((l) => l.quantizedKernel());
        const out = unit.apply(x as tf.Tensor, kernels, (i, value) => unit.quantizers[i]?.apply(value) as tf.Tensor);
        expect(tf.max(tf.abs(tf.sub(out, expected as tf.Tensor))).dataSync()[0]).toBeLessThan(1e-5);
      });
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('learns every block no worse than nearest and brings the output closer to the float one', async () => {
    const { teacher, student, images } = await branchyW3A4();
    const outputError = () => meanSquaredOutputError(student, teacher, images);
    const nearest = outputError();
    const before = tf.memory().numTensors;
    const report = await reconstructRounding(student, teacher, images, {
      granularity: 'block',
      iterations: 50,
      batchSize: 8,
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(report.layers.map((l) => l.name)).toEqual(['stem', 'down+dw+pw+skip', 'logits']);
    for (const unit of report.layers) expect(unit.errorAfter).toBeLessThanOrEqual(unit.errorBefore);
    expect(report.layers[1]?.quantizers.map((q) => q.name)).toEqual(['stem_relu_quant', 'dw_quant', 'sum_relu6_quant']);
    expect(outputError()).toBeLessThan(nearest);
  });

  it('refuses a model with a shared layer and an unknown granularity, naming them', async () => {
    const input = layers.input({ shape: [3] });
    const shared = layers.dense({ name: 'twice', units: 3 });
    const out = shared.apply(shared.apply(input)) as SymbolicTensor;
    const teacher = model({ inputs: input, outputs: out });
    const student = await quantizeModel(teacher, { weightBits: 4, activationBits: 8 });
    const images = tf.ones([4, 3]);
    await expect(reconstructRounding(student, teacher, images, { granularity: 'block' })).rejects.toThrow(
      "granularity 'block' needs every layer called once; 'twice' is called 2 times (use granularity 'layer')",
    );
    await expect(reconstructRounding(student, teacher, images, { granularity: 'stage' as never })).rejects.toThrow(
      `reconstructRounding: granularity must be 'layer' or 'block', got "stage"`,
    );
    tf.dispose(images);
  });

  it("counts what the largest unit's step computes per image, on the float model, for its memory plan", () => {
    const teacher = tinyBranchy();
    // Layers: the stem with its BN and ReLU, on 9x9x3 images (2 x 243 + 3 x 486). Blocks:
    // the residual block from the stem's 9x9x6 output: padding 11x11x6, down 5x5x6, dw
    // 5x5x12, pw, skip, Add and ReLU6 5x5x6 each, Concatenate 5x5x12, and a quantized copy
    // of the four convolutions' inputs (726 + 150 + 300 + 486).
    expect(largestUnitElements(teacher, 'layer')).toBe(2 * 243 + 3 * 486);
    expect(largestUnitElements(teacher, 'block')).toBe(486 + (726 + 150 + 300 + 3 * 150 + 150 + 300) + 1662);
    teacher.dispose();
    // A layer called twice: blocks are refused there, so the layers are what a run could use.
    const input = layers.input({ shape: [3] });
    const shared = layers.dense({ name: 'twice', units: 5 });
    const twice = model({
      inputs: input,
      outputs: shared.apply(shared.apply(layers.dense({ units: 5 }).apply(input))) as SymbolicTensor,
    });
    expect(largestUnitElements(twice, 'block')).toBe(largestUnitElements(twice, 'layer'));
    twice.dispose();
  });
});
