import { type LayersModel, layers, model, type SymbolicTensor, input as symbolicInput } from '@tensorflow/tfjs-layers';

/**
 * ResNet-20 for 32x32x3 images in the layout of the shared benchmark teacher (pytorchcv
 * resnet20_cifar10 with 1x1-conv projection shortcuts): the architecture, with freshly
 * initialised weights, for speed measurements that need no trained model.
 */
export function buildResNet20(): LayersModel {
  const image = symbolicInput({ name: 'input', shape: [32, 32, 3] });
  const convBn = (x: SymbolicTensor, name: string, filters: number, kernel: number, stride: number) => {
    const padded =
      stride > 1 ? (layers.zeroPadding2d({ name: `${name}_pad`, padding: 1 }).apply(x) as SymbolicTensor) : x;
    const conv = layers
      .conv2d({
        name,
        filters,
        kernelSize: kernel,
        strides: stride,
        padding: stride > 1 && kernel > 1 ? 'valid' : 'same',
        useBias: false,
      })
      .apply(kernel > 1 ? padded : x) as SymbolicTensor;
    return layers.batchNormalization({ name: `${name}_bn`, epsilon: 1e-5 }).apply(conv) as SymbolicTensor;
  };
  const relu = (x: SymbolicTensor, name: string) => layers.reLU({ name }).apply(x) as SymbolicTensor;
  let x = relu(convBn(image, 'conv1', 16, 3, 1), 'relu1');
  [16, 32, 64].forEach((filters, stage) => {
    for (let block = 0; block < 3; block++) {
      const name = `s${stage + 1}b${block + 1}`;
      const stride = stage > 0 && block === 0 ? 2 : 1;
      const body = convBn(relu(convBn(x, `${name}_c1`, filters, 3, stride), `${name}_r1`), `${name}_c2`, filters, 3, 1);
      const shortcut =
        stride > 1 || (x.shape[3] as number) !== filters ? convBn(x, `${name}_proj`, filters, 1, stride) : x;
      x = relu(layers.add({ name: `${name}_add` }).apply([body, shortcut]) as SymbolicTensor, `${name}_out`);
    }
  });
  const pooled = layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as SymbolicTensor;
  const logits = layers.dense({ name: 'fc', units: 10 }).apply(pooled) as SymbolicTensor;
  return model({ name: 'resnet20', inputs: image, outputs: logits });
}
