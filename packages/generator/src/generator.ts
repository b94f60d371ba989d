import {
  initializers,
  type LayersModel,
  layers,
  model,
  type SymbolicTensor,
  input as symbolicInput,
} from '@tensorflow/tfjs-layers';
import { ClassConditionalBatchNorm } from './class_conditional_bn.js';
import { ResizeImages } from './resize_images.js';

/** Options of {@link createGenerator}; defaults are those of the official CIFAR generator. */
export interface GeneratorOptions {
  /**
   * Height and width of the images, or one number for square images: both divisible by
   * 4 unless {@link generationSize} is given.
   */
  imageSize: number | [number, number];
  /**
   * Height and width the generator's layers work at (both divisible by 4), when smaller
   * than {@link imageSize}: its images are then resized (bilinear) to `imageSize`. For
   * large images: with a 512-long latent the official generator at 224x224 holds 207M
   * weights, at 56x56 14M and a fifteenth of the activations (docs/performance.md).
   * Default: `imageSize`.
   */
  generationSize?: number | [number, number];
  /** Image channels (3 for RGB). */
  channels: number;
  /** Length of the (already mapped) latent vector the generator takes. */
  inputDim: number;
  /** Channels after the first Dense layer; the last hidden block has half. Default 128. */
  baseChannels?: number;
  /** Epsilon of the two hidden BatchNorms (GDFQ passes 0.8 as eps). Default 0.8. */
  bnEpsilon?: number;
  /** Epsilon of the BatchNorm right after the Dense layer. Default 1e-5. */
  firstBnEpsilon?: number;
  /** LeakyReLU slope. Default 0.2. */
  leakySlope?: number;
  /** Upsampling interpolation. Default 'nearest'. */
  upsampling?: 'nearest' | 'bilinear';
  /**
   * Class-conditional BatchNorm (the ImageNet variant): the generator then takes a
   * second input, per-sample class weights `[batch, numClasses]`.
   */
  classConditional?: { numClasses: number };
  /** Seed of the weight initialisers. Default 1. */
  seed?: number;
  name?: string;
}

/** The architecture defaults of {@link createGenerator} (the official CIFAR generator's). */
export const GENERATOR_DEFAULTS = {
  baseChannels: 128,
  bnEpsilon: 0.8,
  firstBnEpsilon: 1e-5,
  leakySlope: 0.2,
  upsampling: 'nearest',
} as const satisfies Pick<
  GeneratorOptions,
  'baseChannels' | 'bnEpsilon' | 'firstBnEpsilon' | 'leakySlope' | 'upsampling'
>;

/**
 * The GDFQ/Qimera generator: Dense -> reshape to (H/4, W/4, base) -> BN -> upsample x2
 * -> conv3x3(base) -> BN -> LeakyReLU -> upsample x2 -> conv3x3(base/2) -> BN ->
 * LeakyReLU -> conv3x3(channels) -> tanh -> BN without affine parameters (-> bilinear
 * resize to `imageSize` when a smaller `generationSize` is given).
 *
 * Its BatchNorms must run in training mode (batch statistics), as in the official code:
 * call it through {@link generateImages} or `generator.apply(x, { training: true })`.
 * Weights start like PyTorch's defaults (uniform ±1/√fan_in), biases at zero.
 *
 * @throws RangeError naming the option when a size or count is invalid.
 */
export function createGenerator(options: GeneratorOptions): LayersModel {
  const { output, generated } = checkSizes(options);
  const [height, width] = generated;
  const base = options.baseChannels ?? GENERATOR_DEFAULTS.baseChannels;
  const checks: [string, number][] = [
    ['channels', options.channels],
    ['inputDim', options.inputDim],
    ['baseChannels', base],
  ];
  for (const [name, value] of checks) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`createGenerator: ${name} must be a positive integer, got ${value}`);
  }
  if (base % 2 !== 0) throw new RangeError(`createGenerator: baseChannels must be even, got ${base}`);
  const epsilon = options.bnEpsilon ?? GENERATOR_DEFAULTS.bnEpsilon;
  const slope = options.leakySlope ?? GENERATOR_DEFAULTS.leakySlope;
  const interpolation = options.upsampling ?? GENERATOR_DEFAULTS.upsampling;
  let seed = options.seed ?? 1;
  // PyTorch's default init for Linear and Conv: uniform ±1/√fan_in.
  const torchInit = () =>
    initializers.varianceScaling({ scale: 1 / 3, mode: 'fanIn', distribution: 'uniform', seed: seed++ });

  const latent = symbolicInput({ name: 'latent', shape: [options.inputDim] });
  const classWeights = options.classConditional
    ? symbolicInput({ name: 'class_weights', shape: [options.classConditional.numClasses] })
    : null;
  const norm = (x: SymbolicTensor, name: string, eps: number): SymbolicTensor =>
    classWeights && options.classConditional
      ? (new ClassConditionalBatchNorm({ name, numClasses: options.classConditional.numClasses, epsilon: eps }).apply([
          x,
          classWeights,
        ]) as SymbolicTensor)
      : (layers.batchNormalization({ name, epsilon: eps, momentum: 0.9 }).apply(x) as SymbolicTensor);
  const conv = (x: SymbolicTensor, name: string, filters: number) =>
    layers
      .conv2d({
        name,
        filters,
        kernelSize: 3,
        padding: 'same',
        kernelInitializer: torchInit(),
        biasInitializer: 'zeros',
      })
      .apply(x) as SymbolicTensor;
  const up = (x: SymbolicTensor, name: string) =>
    layers.upSampling2d({ name, size: [2, 2], interpolation }).apply(x) as SymbolicTensor;
  const leaky = (x: SymbolicTensor, name: string) =>
    layers.leakyReLU({ name, alpha: slope }).apply(x) as SymbolicTensor;

  let x = layers
    .dense({
      name: 'l1',
      units: base * (height / 4) * (width / 4),
      kernelInitializer: torchInit(),
      biasInitializer: 'zeros',
    })
    .apply(latent) as SymbolicTensor;
  x = layers.reshape({ name: 'to_map', targetShape: [height / 4, width / 4, base] }).apply(x) as SymbolicTensor;
  x = norm(x, 'bn0', options.firstBnEpsilon ?? GENERATOR_DEFAULTS.firstBnEpsilon);
  x = leaky(norm(conv(up(x, 'up1'), 'conv1', base), 'bn1', epsilon), 'act1');
  x = leaky(norm(conv(up(x, 'up2'), 'conv2', base / 2), 'bn2', epsilon), 'act2');
  x = layers
    .activation({ name: 'tanh', activation: 'tanh' })
    .apply(conv(x, 'conv3', options.channels)) as SymbolicTensor;
  // Affine-free BN: gamma 1 and beta 0, frozen. (tfjs-layers' center/scale = false
  // crashes in training mode.)
  x = layers
    .batchNormalization({ name: 'bn_out', epsilon: 1e-5, momentum: 0.9, trainable: false })
    .apply(x) as SymbolicTensor;
  if (output[0] !== height || output[1] !== width) {
    x = new ResizeImages({ name: 'resize', height: output[0], width: output[1] }).apply(x) as SymbolicTensor;
  }
  return model({
    name: options.name ?? 'generator',
    inputs: classWeights ? [latent, classWeights] : latent,
    outputs: x,
  });
}

/** Sizes of the generator {@link createGenerator} would build, without building it. */
export interface GeneratorFootprint {
  /** Weights (trainable and not), as `countParams()` of the built model. */
  weights: number;
  /** Elements of every layer's output (inputs included) for one image. */
  activationsPerImage: number;
}

/**
 * The generator's size from its options alone, to plan memory before allocating it: at
 * 224x224 the official width puts 205M weights in the first Dense layer.
 */
export function generatorFootprint(options: GeneratorOptions): GeneratorFootprint {
  const { output, generated } = checkSizes(options);
  const [height, width] = generated;
  const base = options.baseChannels ?? GENERATOR_DEFAULTS.baseChannels;
  const classes = options.classConditional?.numClasses;
  const pixels = height * width;
  const first = base * (pixels / 16);
  // Moving statistics and affine terms, or per-class affine terms only.
  const norm = (channels: number) => (classes ? 2 * classes * channels : 4 * channels);
  const conv = (inputs: number, outputs: number) => 9 * inputs * outputs + outputs;
  const weights =
    options.inputDim * first +
    first +
    norm(base) +
    conv(base, base) +
    norm(base) +
    conv(base, base / 2) +
    norm(base / 2) +
    conv(base / 2, options.channels) +
    4 * options.channels;
  // l1, reshape, bn0 at 1/16 of the pixels; up1, conv1, bn1, act1 at 1/4; up2 at full
  // size with base channels, conv2, bn2, act2 with half; conv3, tanh, bn_out.
  const activationsPerImage =
    options.inputDim +
    (classes ?? 0) +
    3 * first +
    16 * first +
    base * pixels +
    3 * (base / 2) * pixels +
    3 * options.channels * pixels +
    (output[0] * output[1] === pixels ? 0 : options.channels * output[0] * output[1]);
  return { weights, activationsPerImage };
}

/** Height and width of a size option. */
function sizeOf(size: number | [number, number]): [number, number] {
  return typeof size === 'number' ? [size, size] : size;
}

/**
 * The output size and the size the layers work at, checked: the working size a
 * positive multiple of 4 no larger than the output.
 * @throws RangeError naming the option.
 */
function checkSizes(options: GeneratorOptions): { output: [number, number]; generated: [number, number] } {
  const output = sizeOf(options.imageSize);
  const generated = options.generationSize === undefined ? output : sizeOf(options.generationSize);
  const option = options.generationSize === undefined ? 'imageSize' : 'generationSize';
  for (const [i, side] of [
    [0, 'height'],
    [1, 'width'],
  ] as const) {
    const value = generated[i];
    if (!Number.isInteger(value) || value < 4 || value % 4 !== 0) {
      throw new RangeError(`createGenerator: ${option} (${side}) must be a positive multiple of 4, got ${value}`);
    }
    if (!(Number.isInteger(output[i]) && output[i] >= value)) {
      throw new RangeError(
        `createGenerator: imageSize (${side}) must be an integer no smaller than generationSize (${value}), got ${output[i]}`,
      );
    }
  }
  return { output, generated };
}
