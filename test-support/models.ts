import * as tf from '@tensorflow/tfjs-core';
import {
  type LayersModel,
  layers,
  model,
  type SymbolicTensor,
  sequential,
  input as symbolicInput,
} from '@tensorflow/tfjs-layers';

/** Gives every weight of a model seeded, non-trivial values (BN variances kept positive). */
export function randomizeWeights(net: LayersModel, seed = 1): void {
  let s = seed;
  for (const layer of net.layers) {
    const weights = layer.getWeights();
    const values = weights.map((w, i) =>
      tf.tidy(() => {
        const r = tf.randomNormal(w.shape, 0, 0.5, 'float32', s++);
        // The moving variance is a BN layer's last weight, whether or not it has gamma / beta.
        const isVariance = layer.getClassName() === 'BatchNormalization' && i === weights.length - 1;
        return isVariance ? tf.add(tf.abs(r), 0.5) : r;
      }),
    );
    if (values.length > 0) layer.setWeights(values);
    tf.dispose(values);
  }
}

/**
 * Conv (fused ReLU) -> BN -> ReLU -> pool -> flatten -> dropout -> Dense, on 8x8x3; the
 * Dense layer outputs logits, or applies a softmax (`'fused'`), or a softmax layer
 * 'probs' follows it (`'layer'`). The weights are the same in all three.
 */
export function tinySequential(softmax: 'none' | 'fused' | 'layer' = 'none'): LayersModel {
  const net = sequential({ name: 'tiny_seq' });
  net.add(
    layers.conv2d({
      name: 'c1',
      inputShape: [8, 8, 3],
      filters: 4,
      kernelSize: 3,
      padding: 'same',
      activation: 'relu',
    }),
  );
  net.add(layers.batchNormalization({ name: 'bn1' }));
  net.add(layers.reLU({ name: 'r1' }));
  net.add(layers.maxPooling2d({ name: 'pool', poolSize: 2 }));
  net.add(layers.flatten({ name: 'flat' }));
  net.add(layers.dropout({ name: 'drop', rate: 0.5 }));
  net.add(layers.dense({ name: 'fc', units: 5, ...(softmax === 'fused' ? { activation: 'softmax' as const } : {}) }));
  if (softmax === 'layer') net.add(layers.activation({ name: 'probs', activation: 'softmax' }));
  randomizeWeights(net);
  return net;
}

/**
 * A functional net with the structures ResNet and MobileNet use: ZeroPadding2D,
 * strided valid conv, DepthwiseConv2D, branches joined by Add and Concatenate, ReLU6
 * as an Activation layer, global pooling and a Dense classifier.
 */
export function tinyBranchy(): LayersModel {
  const input = symbolicInput({ name: 'image', shape: [9, 9, 3] });
  const stem = layers.conv2d({ name: 'stem', filters: 6, kernelSize: 3, padding: 'same', useBias: false }).apply(input);
  const bn = layers.batchNormalization({ name: 'stem_bn' }).apply(stem);
  const act = layers.reLU({ name: 'stem_relu' }).apply(bn);
  const padded = layers.zeroPadding2d({ name: 'pad', padding: 1 }).apply(act);
  const down = layers.conv2d({ name: 'down', filters: 6, kernelSize: 3, strides: 2, padding: 'valid' }).apply(padded);
  const dw = layers
    .depthwiseConv2d({ name: 'dw', kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu6' })
    .apply(down);
  const pw = layers.conv2d({ name: 'pw', filters: 6, kernelSize: 1 }).apply(dw);
  const skip = layers.conv2d({ name: 'skip', filters: 6, kernelSize: 1, strides: 2 }).apply(act);
  const sum = layers.add({ name: 'sum' }).apply([pw, skip] as SymbolicTensor[]);
  const relu6 = layers.activation({ name: 'sum_relu6', activation: 'relu6' }).apply(sum);
  const joined = layers.concatenate({ name: 'cat' }).apply([relu6, skip] as SymbolicTensor[]);
  const pooled = layers.globalAveragePooling2d({ name: 'gap' }).apply(joined);
  const out = layers.dense({ name: 'logits', units: 4 }).apply(pooled);
  const net = model({ name: 'tiny_branchy', inputs: input, outputs: out as SymbolicTensor });
  randomizeWeights(net);
  return net;
}
