import {
  Identity,
  type IdentityInputs,
  type KernelBackend,
  type KernelConfig,
  type TensorInfo,
} from '@tensorflow/tfjs-core';
import { withFastPath } from './fast_path.js';

/**
 * Identity that shares the input's data (one more reference) instead of copying it,
 * as the cpu and webgl backends do and as tfjs-wasm's own Reshape does. Gradients
 * pass through Identity hundreds of times per training step. Strings use the original.
 */
export function sharingIdentityConfig(): KernelConfig {
  return withFastPath(Identity, ({ inputs, backend }) => {
    const x = (inputs as IdentityInputs).x as TensorInfo;
    if (x.dtype === 'string') return null;
    (backend as KernelBackend).incRef(x.dataId);
    return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
  });
}
