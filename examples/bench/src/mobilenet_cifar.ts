import { type LayersModel, layers, model, type SymbolicTensor, input as symbolicInput } from '@tensorflow/tfjs-layers';

/**
 * A small MobileNetV2-style network for 32x32x3 images: a 3x3 stem, inverted residual
 * blocks (1x1 expansion, 3x3 depthwise, 1x1 linear projection, a residual where shapes
 * allow), BatchNorm and ReLU6 throughout, a 1x1 head, global pooling and a 10-way Dense.
 * Freshly initialised: the architecture, for speed measurements next to ResNet-20.
 */
export function buildMobileNetCifar(): LayersModel {
  const image = symbolicInput({ name: 'input', shape: [32, 32, 3] });
  const bn = (x: SymbolicTensor, name: string) =>
    layers.batchNormalization({ name: `${name}_bn`, epsilon: 1e-3 }).apply(x) as SymbolicTensor;
  const relu6 = (x: SymbolicTensor, name: string) =>
    layers.reLU({ name: `${name}_relu6`, maxValue: 6 }).apply(x) as SymbolicTensor;
  const pointwise = (x: SymbolicTensor, name: string, filters: number) =>
    bn(layers.conv2d({ name, filters, kernelSize: 1, useBias: false }).apply(x) as SymbolicTensor, name);
  const stemConv = layers
    .conv2d({ name: 'stem', filters: 16, kernelSize: 3, padding: 'same', useBias: false })
    .apply(image) as SymbolicTensor;
  let x = relu6(bn(stemConv, 'stem'), 'stem');
  let channels = 16;
  // [expansion, output channels, blocks, first stride]
  const stages: [number, number, number, number][] = [
    [1, 16, 1, 1],
    [4, 24, 2, 2],
    [4, 32, 2, 2],
    [4, 64, 1, 2],
  ];
  stages.forEach(([expansion, filters, blocks, firstStride], stage) => {
    for (let block = 0; block < blocks; block++) {
      const name = `s${stage + 1}b${block + 1}`;
      const stride = block === 0 ? firstStride : 1;
      let y = expansion === 1 ? x : relu6(pointwise(x, `${name}_expand`, channels * expansion), `${name}_expand`);
      const depthwise = layers
        .depthwiseConv2d({ name: `${name}_dw`, kernelSize: 3, strides: stride, padding: 'same', useBias: false })
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
  x = relu6(pointwise(x, 'head', 128), 'head');
  const pooled = layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as SymbolicTensor;
  const logits = layers.dense({ name: 'logits', units: 10 }).apply(pooled) as SymbolicTensor;
  return model({ name: 'mobilenet_cifar', inputs: image, outputs: logits });
}
