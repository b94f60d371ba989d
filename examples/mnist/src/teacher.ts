import { initializers, type LayersModel, layers, sequential } from '@tensorflow/tfjs-layers';

/**
 * The demo teacher: three conv -> BatchNorm -> ReLU blocks (8, 16, 16 filters; max
 * pooling after the first two), global average pooling and a Dense classifier. Small
 * enough to train on the tfjs cpu backend, and built like the CNNs Qimera targets.
 */
export function buildTeacher(seed: number): LayersModel {
  const net = sequential({ name: 'mnist_teacher' });
  const filters = [8, 16, 16];
  filters.forEach((count, i) => {
    net.add(
      layers.conv2d({
        name: `conv${i + 1}`,
        ...(i === 0 ? { inputShape: [28, 28, 1] } : {}),
        filters: count,
        kernelSize: 3,
        padding: 'same',
        useBias: false,
        kernelInitializer: initializers.heNormal({ seed: seed + i }),
      }),
    );
    net.add(layers.batchNormalization({ name: `bn${i + 1}`, momentum: 0.9 }));
    net.add(layers.reLU({ name: `relu${i + 1}` }));
    if (i < 2) net.add(layers.maxPooling2d({ name: `pool${i + 1}`, poolSize: 2 }));
  });
  net.add(layers.globalAveragePooling2d({ name: 'gap' }));
  net.add(
    layers.dense({ name: 'logits', units: 10, kernelInitializer: initializers.glorotUniform({ seed: seed + 9 }) }),
  );
  return net;
}
