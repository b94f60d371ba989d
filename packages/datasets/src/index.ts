/**
 * Dataset readers used to evaluate quantized models (pure functions on bytes, so
 * they run in Node and in browsers alike) and a top-1 evaluation loop.
 * @packageDocumentation
 */
export {
  type ChannelNormalization,
  CIFAR_SIZE,
  CIFAR10_CLASSES,
  CIFAR10_NORMALIZATION,
  CIFAR10_RECORD_BYTES,
  type Cifar10ParseOptions,
  type ImageBatch,
  parseCifar10,
} from './cifar10.js';
export { top1Accuracy } from './evaluate.js';
