import { getKernel, type KernelConfig, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { conv2DBackpropFilterConfig } from './conv2d_backprop_filter.js';
import { fasterConv2DBackpropInputConfig } from './conv2d_backprop_input.js';
import { depthwiseConv2dBackpropFilterConfig } from './depthwise_backprop_filter.js';
import { depthwiseConv2dBackpropInputConfig } from './depthwise_backprop_input.js';
import { installKernels } from './fast_path.js';
import { registerFasterGradients } from './faster_gradients.js';
import { fasterBatchMatMulConfig } from './mat_mul.js';
import { fasterMeanConfig, fasterSumConfig } from './reduce.js';
import { fasterResizeNearestNeighborGradConfig } from './resize_nearest_grad.js';
import { sharingCastConfig, sharingIdentityConfig } from './sharing.js';
import { fasterSliceConfig } from './slice.js';
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
export const WASM_FASTER_KERNELS: readonly string[] = [
  'Conv2DBackpropInput',
  'Tile',
  'Slice',
  'Sum',
  'Mean',
  'Identity',
  'Cast',
  'BatchMatMul',
  'ResizeNearestNeighborGrad',
];

// Built once, with tfjs-wasm's own kernels saved first: the fast paths fall back on
// them, and restoreWasmKernels puts them back.
let replacements: KernelConfig[] | null = null;
const originals = new Map<string, KernelConfig | undefined>();

function fasterKernels(): KernelConfig[] {
  if (!replacements) {
    for (const name of WASM_FASTER_KERNELS) originals.set(name, getKernel(name, 'wasm'));
    replacements = [
      fasterConv2DBackpropInputConfig(),
      fasterTileConfig(),
      fasterSliceConfig(),
      fasterSumConfig(),
      fasterMeanConfig(),
      sharingIdentityConfig(),
      sharingCastConfig(),
      fasterBatchMatMulConfig(),
      fasterResizeNearestNeighborGradConfig(),
    ];
  }
  return replacements;
}

/** Options of {@link registerWasmTrainingKernels}. */
export interface RegisterOptions {
  /**
   * Which of tfjs-wasm's slow kernels ({@link WASM_FASTER_KERNELS}) to replace: all
   * (true, the default), none (false), or the ones named.
   */
  replaceSlowKernels?: boolean | readonly string[];
}

/**
 * Registers the training kernels for the 'wasm' backend. A missing kernel is added
 * unless the backend already has one (a later tfjs release may ship its own); the slow
 * kernels chosen by `replaceSlowKernels` are replaced. Also registers the gradients of
 * {@link registerFasterGradients} (for every backend). Safe to call more than once,
 * before or after `tf.setBackend('wasm')`. Importing this package registers nothing.
 *
 * @returns the kernel names registered by this call.
 * @throws if `@tensorflow/tfjs-backend-wasm` has not been imported: its kernels must be
 *   registered first, or importing it later would undo the replacements.
 */
export function registerWasmTrainingKernels(options: RegisterOptions = {}): string[] {
  const replace = chosenKernels(options.replaceSlowKernels ?? true, 'replaceSlowKernels');
  if (!getKernel('Conv2D', 'wasm')) {
    throw new Error(
      "registerWasmTrainingKernels: the 'wasm' backend's kernels are not registered; " +
        "import '@tensorflow/tfjs-backend-wasm' before calling it",
    );
  }
  registerFasterGradients();
  const added: string[] = [];
  for (const config of WASM_TRAINING_KERNELS) {
    if (getKernel(config.kernelName, config.backendName)) continue;
    registerKernel(config);
    added.push(config.kernelName);
  }
  return [...added, ...installKernels(fasterKernels().filter((c) => replace.includes(c.kernelName)))];
}

/**
 * Puts tfjs-wasm's own kernels back in place of this package's replacements (all of
 * {@link WASM_FASTER_KERNELS}, or the ones named), e.g. to compare speed or results.
 * The kernels tfjs-wasm lacks stay registered.
 *
 * @returns the kernel names restored by this call.
 */
export function restoreWasmKernels(names: readonly string[] = WASM_FASTER_KERNELS): string[] {
  const restore = chosenKernels(names, 'names');
  const restored: string[] = [];
  for (const config of replacements ?? []) {
    if (!restore.includes(config.kernelName) || getKernel(config.kernelName, 'wasm') !== config) continue;
    unregisterKernel(config.kernelName, 'wasm');
    const original = originals.get(config.kernelName);
    if (original) registerKernel(original);
    restored.push(config.kernelName);
  }
  return restored;
}

function chosenKernels(choice: boolean | readonly string[], option: string): readonly string[] {
  if (choice === true) return WASM_FASTER_KERNELS;
  if (choice === false) return [];
  const unknown = choice.filter((name) => !WASM_FASTER_KERNELS.includes(name));
  if (unknown.length > 0) {
    throw new Error(
      `${option}: ${unknown.map((n) => `'${n}'`).join(', ')} ${unknown.length > 1 ? 'are not replaceable wasm kernels' : 'is not a replaceable wasm kernel'}; ` +
        `allowed: ${WASM_FASTER_KERNELS.join(', ')}`,
    );
  }
  return choice;
}
