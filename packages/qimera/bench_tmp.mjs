import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import { loadLayersModelFromFile } from 'qimera/node';
import { registerWasmTrainingKernels } from '../wasm-training/dist/index.js';

registerWasmTrainingKernels();
await tf.setBackend('wasm');
const m = await loadLayersModelFromFile('/work/shared/models/resnet20-cifar10/model.json');
const B = 64;
const x = tf.randomNormal([B, 32, 32, 3]);
const y = tf.oneHot(tf.zeros([B], 'int32'), 10);
const opt = tf.train.sgd(0.01);
const time = (f, n) => {
  f();
  const s = performance.now();
  for (let i = 0; i < n; i++) f();
  return (performance.now() - s) / n;
};
const fwd = time(() => tf.tidy(() => m.predict(x).dataSync()), 3);
console.log('forward img/s', ((B / fwd) * 1000).toFixed(1));
const step = time(
  () =>
    tf.tidy(() => {
      opt.minimize(() => tf.losses.softmaxCrossEntropy(y, m.apply(x, { training: true })));
    }),
  3,
);
console.log('train img/s', ((B / step) * 1000).toFixed(1));
const prof = await tf.profile(() =>
  tf.tidy(() => {
    opt.minimize(() => tf.losses.softmaxCrossEntropy(y, m.apply(x, { training: true })));
  }),
);
const agg = {};
for (const k of prof.kernels) {
  agg[k.name] = (agg[k.name] || 0) + (k.kernelTimeMs || 0);
}
console.log(
  Object.entries(agg)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12),
);
