/**
 * Dataset readers used to evaluate quantized models. Pure functions on bytes, so
 * they run in Node and in browsers alike.
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
