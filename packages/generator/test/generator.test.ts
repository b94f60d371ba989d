import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import {
  ClassConditionalBatchNorm,
  createGenerator,
  type GeneratorOptions,
  generateImages,
  generatorFootprint,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

describe('createGenerator', () => {
  it('has the official layout and defaults', () => {
    const g = createGenerator({ imageSize: 32, channels: 3, inputDim: 100 });
    expect(g.layers.map((l) => l.getClassName())).toEqual([
      'InputLayer',
      'Dense',
      'Reshape',
      'BatchNormalization',
      'UpSampling2D',
      'Conv2D',
      'BatchNormalization',
      'LeakyReLU',
      'UpSampling2D',
      'Conv2D',
      'BatchNormalization',
      'LeakyReLU',
      'Conv2D',
      'Activation',
      'BatchNormalization',
    ]);
    const config = (name: string) => g.getLayer(name).getConfig();
    expect(config('l1').units).toBe(128 * 8 * 8);
    expect([config('bn0').epsilon, config('bn1').epsilon, config('bn2').epsilon]).toEqual([1e-5, 0.8, 0.8]);
    expect([config('conv1').filters, config('conv2').filters, config('conv3').filters]).toEqual([128, 64, 3]);
    expect(config('act1').alpha).toBeCloseTo(0.2, 6);
    expect(config('up1').interpolation).toBe('nearest');
    expect(g.getLayer('bn_out').trainable).toBe(false);
    g.dispose();
  });

  it('makes images of any size divisible by 4 and any channel count, standardised per channel', () => {
    for (const [size, channels] of [
      [[12, 8], 1],
      [[28, 28], 2],
    ] as const) {
      const g = createGenerator({ imageSize: [size[0], size[1]], channels, inputDim: 6, baseChannels: 8, seed: 2 });
      const images = generateImages(g, tf.randomNormal([16, 6], 0, 1, 'float32', 3));
      expect(images.shape).toEqual([16, size[0], size[1], channels]);
      // The last BN (no affine) runs on batch statistics: zero mean, unit variance per channel.
      const { mean, variance } = tf.moments(images, [0, 1, 2]);
      Array.from(mean.dataSync()).forEach((v) => expect(Math.abs(v)).toBeLessThan(1e-4));
      Array.from(variance.dataSync()).forEach((v) => expect(v).toBeCloseTo(1, 2));
      g.dispose();
    }
  });

  it('is deterministic for a seed, and trainable end to end', () => {
    const make = (seed: number) => createGenerator({ imageSize: 8, channels: 3, inputDim: 4, baseChannels: 4, seed });
    const [a, b, c] = [make(5), make(5), make(6)];
    const z = tf.randomNormal([4, 4], 0, 1, 'float32', 1);
    expect(generateImages(a, z).arraySync()).toEqual(generateImages(b, z).arraySync());
    expect(generateImages(a, z).arraySync()).not.toEqual(generateImages(c, z).arraySync());
    const vars = a.trainableWeights.map((w) => w.read() as tf.Variable);
    const { grads } = tf.variableGrads(() => tf.mean(tf.square(tf.sub(generateImages(a, z), 0.5))) as tf.Scalar, vars);
    const l1 = grads[(a.getLayer('l1').trainableWeights[0]!.read() as tf.Variable).name] as tf.Tensor;
    expect(tf.sum(tf.abs(l1)).dataSync()[0]).toBeGreaterThan(0);
  });

  it('rejects bad sizes by name', () => {
    expect(() => createGenerator({ imageSize: 30, channels: 3, inputDim: 4 })).toThrow(
      /imageSize \(height\) must be a positive multiple of 4, got 30/,
    );
    expect(() => createGenerator({ imageSize: 32, channels: 0, inputDim: 4 })).toThrow(
      /channels must be a positive integer/,
    );
    expect(() => createGenerator({ imageSize: 32, channels: 3, inputDim: 4, baseChannels: 7 })).toThrow(
      /baseChannels must be even/,
    );
    expect(() => createGenerator({ imageSize: 30, generationSize: 10, channels: 3, inputDim: 4 })).toThrow(
      /generationSize \(height\) must be a positive multiple of 4, got 10/,
    );
    expect(() => createGenerator({ imageSize: [30, 6], generationSize: 8, channels: 3, inputDim: 4 })).toThrow(
      /imageSize \(width\) must be an integer no smaller than generationSize \(8\), got 6/,
    );
  });

  it('works at generationSize and resizes bilinearly to imageSize, any size', () => {
    const base = { channels: 3, inputDim: 6, baseChannels: 8 };
    const g = createGenerator({ ...base, imageSize: [30, 21], generationSize: [12, 8] });
    const small = createGenerator({ ...base, imageSize: [12, 8] });
    small.setWeights(g.getWeights());
    const z = tf.randomNormal([4, 6], 0, 1, 'float32', 3);
    const [images, reference] = [generateImages(g, z), generateImages(small, z)];
    expect(images.shape).toEqual([4, 30, 21, 3]);
    // The same weights' 12x8 images, resized with corners aligned (tfjs-layers' Resizing).
    const resized = tf.image.resizeBilinear(reference as tf.Tensor4D, [30, 21], true);
    expect(tf.max(tf.abs(tf.sub(images, resized))).dataSync()[0]).toBeLessThan(1e-5);
    tf.dispose([z, images, reference, resized]);
    g.dispose();
    small.dispose();
  });
});

describe('generatorFootprint', () => {
  it('gives the weight and activation counts of the built model without building it', () => {
    const cases: GeneratorOptions[] = [
      { imageSize: 32, channels: 3, inputDim: 100 },
      { imageSize: [8, 12], channels: 1, inputDim: 16, baseChannels: 6 },
      { imageSize: 16, channels: 3, inputDim: 20, baseChannels: 8, classConditional: { numClasses: 5 } },
      { imageSize: [30, 21], generationSize: [12, 8], channels: 3, inputDim: 6, baseChannels: 8 },
    ];
    for (const options of cases) {
      const generator = createGenerator(options);
      let activations = 0;
      for (const layer of generator.layers) {
        const shapes = (Array.isArray(layer.outputShape[0]) ? layer.outputShape : [layer.outputShape]) as number[][];
        for (const shape of shapes) activations += shape.slice(1).reduce((n, d) => n * d, 1);
      }
      expect(generatorFootprint(options)).toEqual({
        weights: generator.countParams(),
        activationsPerImage: activations,
      });
      generator.dispose();
    }
    // The official width at 224x224: 512 x 128 x 56 x 56 weights in the first layer alone.
    expect(generatorFootprint({ imageSize: 224, channels: 3, inputDim: 512 }).weights).toBeGreaterThan(
      512 * 128 * 56 * 56,
    );
    // Generated at 56x56 and resized: a sixteenth of the first layer.
    expect(generatorFootprint({ imageSize: 224, generationSize: 56, channels: 3, inputDim: 512 }).weights).toBeLessThan(
      (512 + 1) * 128 * 14 * 14 + 400_000,
    );
  });
});

describe('class-conditional variant', () => {
  it('takes class weights; its BNs scale and shift by the mixture of per-class parameters', () => {
    const g = createGenerator({
      imageSize: 8,
      channels: 3,
      inputDim: 4,
      baseChannels: 4,
      classConditional: { numClasses: 5 },
    });
    expect(g.inputs.length).toBe(2);
    expect(g.layers.filter((l) => l instanceof ClassConditionalBatchNorm).map((l) => l.name)).toEqual([
      'bn0',
      'bn1',
      'bn2',
    ]);
    const z = tf.randomNormal([3, 4]);
    expect(generateImages(g, z, tf.cast(tf.oneHot(tf.tensor1d([0, 4, 2], 'int32'), 5), 'float32')).shape).toEqual([
      3, 8, 8, 3,
    ]);
    expect(() => generateImages(g, z)).toThrow(/is class-conditional and needs class weights/);
  });

  it('ClassConditionalBatchNorm by hand', () => {
    const layer = new ClassConditionalBatchNorm({ numClasses: 2, epsilon: 0 });
    const x = tf.tensor4d([1, 3], [2, 1, 1, 1]); // batch mean 2, variance 1 -> normalised [-1, 1]
    const mix = tf.tensor2d([
      [1, 0],
      [0.5, 0.5],
    ]);
    layer.apply([x, mix]);
    layer.setWeights([tf.tensor2d([[2], [4]]), tf.tensor2d([[10], [20]])]);
    // Sample 0: -1 * 2 + 10 = 8. Sample 1: 1 * 3 + 15 = 18.
    expect(Array.from((layer.apply([x, mix]) as tf.Tensor).dataSync())).toEqual([8, 18]);
  });
});
