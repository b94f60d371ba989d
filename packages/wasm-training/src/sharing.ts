import {
  Cast,
  type CastAttrs,
  type CastInputs,
  Identity,
  type IdentityInputs,
  type KernelBackend,
  type KernelConfig,
  notEqual,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { type KernelArgs, withFastPath } from './fast_path.js';
import { composeKernel } from './kernel_io.js';

/** The input itself, with one more reference to its data. */
function share(x: TensorInfo, { backend }: KernelArgs): TensorInfo {
  (backend as KernelBackend).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * Identity that shares the input's data (one more reference) instead of copying it,
 * as the cpu and webgl backends do and as tfjs-wasm's own Reshape does. Gradients
 * pass through Identity hundreds of times per training step. Strings use the original.
 */
export function sharingIdentityConfig(): KernelConfig {
  return withFastPath(Identity, (args) => {
    const x = (args.inputs as IdentityInputs).x as TensorInfo;
    return x.dtype === 'string' ? null : share(x, args);
  });
}

/**
 * Cast to the dtype the input already has shares its data, as on the cpu backend;
 * tfjs-wasm copies it through JavaScript typed arrays. tfjs casts float32 tensors to
 * float32 in BatchNorm's moments and in the Square gradient, about 70 times per
 * ResNet-20 training step. Cast of numbers to bool is `x != 0` (tfjs-wasm 4.22 stores
 * the number's low byte, so -2 became 254, not true). Other casts use the original.
 */
export function sharingCastConfig(): KernelConfig {
  return withFastPath(Cast, (args) => {
    const x = (args.inputs as CastInputs).x as TensorInfo;
    const { dtype } = args.attrs as unknown as CastAttrs;
    if (dtype === x.dtype && dtype !== 'string') return share(x, args);
    if (dtype === 'bool' && (x.dtype === 'float32' || x.dtype === 'int32')) {
      return composeKernel(args.backend, [x], (t) => notEqual(t, 0));
    }
    return null;
  });
}
