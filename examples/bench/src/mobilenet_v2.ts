import {
  initializers,
  type LayersModel,
  layers,
  model,
  type SymbolicTensor,
  input as symbolicInput,
} from '@tensorflow/tfjs-layers';

/** The shape of a MobileNetV2-style network (see {@link buildMobileNetV2}). */
export interface MobileNetV2Config {
  name: string;
  inputSize: number;
  /** Channels and stride of the 3x3 stem convolution. */
  stem: { filters: number; stride: number };
  /** Inverted-residual stages: [expansion, output channels, blocks, first stride]. */
  stages: [number, number, number, number][];
  /** Channels of the 1x1 head before global pooling. */
  headFilters: number;
  classes: number;
  /** Seeds the weight initializers (each layer its own offset of it); unseeded when absent. */
  seed?: number;
}

/**
 * A MobileNetV2-style network: a 3x3 stem, inverted residual blocks (1x1 expansion,
 * 3x3 depthwise, 1x1 linear projection, a residual where shapes allow), BatchNorm and
 * ReLU6 throughout, a 1x1 head, global pooling and a Dense classifier. Freshly
 * initialised (Glorot uniform, tfjs-layers' default).
 */
export function buildMobileNetV2(config: MobileNetV2Config): LayersModel {
  let seeded = 0;
  // A fresh seed per layer: one seed for all would give every same-shaped kernel the same values.
  const init = () =>
    config.seed === undefined ? 'glorotUniform' : initializers.glorotUniform({ seed: config.seed + seeded++ });
  const image = symbolicInput({ name: 'input', shape: [config.inputSize, config.inputSize, 3] });
  const bn = (x: SymbolicTensor, name: string) =>
    layers.batchNormalization({ name: `${name}_bn`, epsilon: 1e-3 }).apply(x) as SymbolicTensor;
  const relu6 = (x: SymbolicTensor, name: string) =>
    layers.reLU({ name: `${name}_relu6`, maxValue: 6 }).apply(x) as SymbolicTensor;
  const pointwise = (x: SymbolicTensor, name: string, filters: number) =>
    bn(
      layers
        .conv2d({ name, filters, kernelSize: 1, useBias: false, kernelInitializer: init() })
        .apply(x) as SymbolicTensor,
      name,
    );
  const stemConv = layers
    .conv2d({
      name: 'stem',
      filters: config.stem.filters,
      kernelSize: 3,
      strides: config.stem.stride,
      padding: 'same',
      useBias: false,
      kernelInitializer: init(),
    })
    .apply(image) as SymbolicTensor;
  let x = relu6(bn(stemConv, 'stem'), 'stem');
  let channels = config.stem.filters;
  config.stages.forEach(([expansion, filters, blocks, firstStride], stage) => {
    for (let block = 0; block < blocks; block++) {
      const name = `s${stage + 1}b${block + 1}`;
      const stride = block === 0 ? firstStride : 1;
      let y = expansion === 1 ? x : relu6(pointwise(x, `${name}_expand`, channels * expansion), `${name}_expand`);
      const depthwise = layers
        .depthwiseConv2d({
          name: `${name}_dw`,
          kernelSize: 3,
          strides: stride,
          padding: 'same',
          useBias: false,
          depthwiseInitializer: init(),
        })
        .apply(y) as SymbolicTensor;
      y = relu6(bn(depthwise, `${name}_dw`), `${name}_dw`);
      y = pointwise(y, `${name}_project`, filters);
      x =
        stride === 1 && channels === filters
          ? (layers.add({ name: `${name}_add` }).apply([x, y]) as SymbolicTensor)
          : y;
      channels = filters;
    }
  });
  x = relu6(pointwise(x, 'head', config.headFilters), 'head');
  const pooled = layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as SymbolicTensor;
  const logits = layers
    .dense({ name: 'logits', units: config.classes, kernelInitializer: init() })
    .apply(pooled) as SymbolicTensor;
  return model({ name: config.name, inputs: image, outputs: logits });
}

/** A small MobileNetV2-style network for 32x32x3 images and 10 classes (53,450 parameters). */
export function buildMobileNetCifar(seed?: number): LayersModel {
  return buildMobileNetV2({
    ...(seed === undefined ? {} : { seed }),
    name: 'mobilenet_cifar',
    inputSize: 32,
    stem: { filters: 16, stride: 1 },
    stages: [
      [1, 16, 1, 1],
      [4, 24, 2, 2],
      [4, 32, 2, 2],
      [4, 64, 1, 2],
    ],
    headFilters: 128,
    classes: 10,
  });
}

/** MobileNetV2 1.0 for 224x224x3 images and 1000 classes (Sandler et al. 2018; 3.5M weights). */
export function buildMobileNetV2Imagenet(): LayersModel {
  return buildMobileNetV2({
    name: 'mobilenet_v2_224',
    inputSize: 224,
    stem: { filters: 32, stride: 2 },
    stages: [
      [1, 16, 1, 1],
      [6, 24, 2, 2],
      [6, 32, 3, 2],
      [6, 64, 4, 2],
      [6, 96, 3, 1],
      [6, 160, 3, 2],
      [6, 320, 1, 1],
    ],
    headFilters: 1280,
    classes: 1000,
  });
}
