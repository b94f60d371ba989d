/**
 * Training on the TensorFlow.js wasm backend: registers the gradient kernels it lacks
 * (Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter,
 * DepthwiseConv2dNativeBackpropInput, UnsortedSegmentSum), each composed from the
 * backend's XNNPACK-backed convolutions, matrix products and data-movement kernels,
 * and replaces slow ones (Conv2DBackpropInput, Tile, Slice, Sum, Mean, Identity,
 * Cast, transposed BatchMatMul, ResizeNearestNeighborGrad) with faster ones
 * (restoreWasmKernels puts tfjs-wasm's own back). registerCpuKernelFixes corrects a
 * cpu-backend gradient that is wrong in tfjs 4.22; registerFasterGradients gives Sum, Mean
 * and FusedBatchNorm gradients that do less work than tfjs's.
 * @packageDocumentation
 */
export { registerCpuKernelFixes } from './cpu_fixes.js';
export { FASTER_GRADIENTS, registerFasterGradients } from './faster_gradients.js';
export {
  type RegisterOptions,
  registerWasmTrainingKernels,
  restoreWasmKernels,
  WASM_FASTER_KERNELS,
  WASM_TRAINING_KERNELS,
} from './register.js';
