// Importing the wasm backend first guarantees its own kernels are registered before
// this package replaces some of them (not after, which would undo the replacement).
import '@tensorflow/tfjs-backend-wasm';
import { getKernel, type KernelConfig, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d_backprop_filter.js';
import { conv2DBackpropInputConfig } from './conv2d_backprop_input.js';
import { depthwiseConv2dBackpropFilterConfig } from './depthwise_backprop_filter.js';
import { depthwiseConv2dBackpropInputConfig } from './depthwise_backprop_input.js';
import { fasterTileConfig } from './tile.js';
import { unsortedSegmentSumConfig } from './unsorted_segment_sum.js';

/** The kernels tfjs-wasm lacks, which this package adds. */
export const WASM_TRAINING_KERNELS: readonly KernelConfig[] = [
  conv2DBackpropFilterConfig,
  depthwiseConv2dBackpropFilterConfig,
  depthwiseConv2dBackpropInputConfig,
  unsortedSegmentSumConfig,
];

/** Names of the kernels tfjs-wasm has, but slowly, which this package replaces by default. */
export const WASM_FASTER_KERNELS: readonly string[] = ['Conv2DBackpropInput', 'Tile'];

// Built once: the faster Tile keeps the original kernel to fall back on.
let replacements: KernelConfig[] | null = null;

/** Options of {@link registerWasmTrainingKernels}. */
export interface RegisterOptions {
  /** Also replace the slow kernels named in {@link WASM_FASTER_KERNELS}. Default true. */
  replaceSlowKernels?: boolean;
}

/**
 * Registers the training kernels for the 'wasm' backend. A missing kernel is added
 * unless the backend already has one (a later tfjs release may ship its own); a slow
 * kernel is replaced unless `replaceSlowKernels` is false. Safe to call more than
 * once, before or after `tf.setBackend('wasm')`.
 *
 * @returns the kernel names registered by this call.
 */
export function registerWasmTrainingKernels(options: RegisterOptions = {}): string[] {
  const added: string[] = [];
  for (const config of WASM_TRAINING_KERNELS) {
    if (getKernel(config.kernelName, config.backendName)) continue;
    registerKernel(config);
    added.push(config.kernelName);
  }
  if (!(options.replaceSlowKernels ?? true)) return added;
  replacements ??= [conv2DBackpropInputConfig, fasterTileConfig()];
  for (const config of replacements) {
    const current = getKernel(config.kernelName, config.backendName);
    if (current === config) continue;
    if (current) unregisterKernel(config.kernelName, config.backendName);
    registerKernel(config);
    added.push(config.kernelName);
  }
  return added;
}
