import { type LayersModel, layers, model, type SymbolicTensor, input as symbolicInput } from '@tensorflow/tfjs-layers';

/** The shape of a ResNet of basic blocks (see {@link buildResNet}). */
interface ResNetConfig {
  name: string;
  inputSize: number;
  /** The stem: a 3x3 convolution (CIFAR), or a 7x7 stride-2 one and 3x3 stride-2 max pooling (ImageNet). */
  stem: { filters: number; imagenet: boolean };
  /** Output channels of each stage; every stage after the first halves the resolution. */
  stageFilters: number[];
  blocksPerStage: number;
  classes: number;
}

/**
 * A ResNet of basic blocks (two 3x3 convolutions with BatchNorm, 1x1-conv projection
 * shortcuts where the shape changes), global pooling and a Dense classifier: the
 * architecture, with freshly initialised weights, for speed measurements that need no
 * trained model.
 */
function buildResNet(config: ResNetConfig): LayersModel {
  const image = symbolicInput({ name: 'input', shape: [config.inputSize, config.inputSize, 3] });
  const convBn = (x: SymbolicTensor, name: string, filters: number, kernel: number, stride: number) => {
    const pad = (kernel - 1) / 2;
    const padded =
      stride > 1 && pad > 0
        ? (layers.zeroPadding2d({ name: `${name}_pad`, padding: pad }).apply(x) as SymbolicTensor)
        : x;
    const conv = layers
      .conv2d({
        name,
        filters,
        kernelSize: kernel,
        strides: stride,
        padding: stride > 1 && kernel > 1 ? 'valid' : 'same',
        useBias: false,
      })
      .apply(padded) as SymbolicTensor;
    return layers.batchNormalization({ name: `${name}_bn`, epsilon: 1e-5 }).apply(conv) as SymbolicTensor;
  };
  const relu = (x: SymbolicTensor, name: string) => layers.reLU({ name }).apply(x) as SymbolicTensor;
  const { stem } = config;
  let x = relu(convBn(image, 'conv1', stem.filters, stem.imagenet ? 7 : 3, stem.imagenet ? 2 : 1), 'relu1');
  if (stem.imagenet) {
    x = layers.maxPooling2d({ name: 'pool1', poolSize: 3, strides: 2, padding: 'same' }).apply(x) as SymbolicTensor;
  }
  config.stageFilters.forEach((filters, stage) => {
    for (let block = 0; block < config.blocksPerStage; block++) {
      const name = `s${stage + 1}b${block + 1}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const body = convBn(relu(convBn(x, `${name}_c1`, filters, 3, stride), `${name}_r1`), `${name}_c2`, filters, 3, 1);
      const shortcut =
        stride > 1 || (x.shape[3] as number) !== filters ? convBn(x, `${name}_proj`, filters, 1, stride) : x;
      x = relu(layers.add({ name: `${name}_add` }).apply([body, shortcut]) as SymbolicTensor, `${name}_out`);
    }
  });
  const pooled = layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as SymbolicTensor;
  const logits = layers.dense({ name: 'fc', units: config.classes }).apply(pooled) as SymbolicTensor;
  return model({ name: config.name, inputs: image, outputs: logits });
}

/**
 * ResNet-20 for 32x32x3 images in the layout of the shared benchmark teacher (pytorchcv
 * resnet20_cifar10 with 1x1-conv projection shortcuts).
 */
export function buildResNet20(): LayersModel {
  return buildResNet({
    name: 'resnet20',
    inputSize: 32,
    stem: { filters: 16, imagenet: false },
    stageFilters: [16, 32, 64],
    blocksPerStage: 3,
    classes: 10,
  });
}

/** ResNet-18 for 224x224x3 images and 1000 classes (He et al. 2016; 11.7M weights). */
export function buildResNet18(): LayersModel {
  return buildResNet({
    name: 'resnet18_224',
    inputSize: 224,
    stem: { filters: 64, imagenet: true },
    stageFilters: [64, 128, 256, 512],
    blocksPerStage: 2,
    classes: 1000,
  });
}
