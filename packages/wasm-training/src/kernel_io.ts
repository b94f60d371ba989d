import { engine, type KernelBackend, type Tensor, type TensorInfo, tidy } from '@tensorflow/tfjs-core';

/**
 * Runs `compute` on Tensor views of kernel inputs and hands its result back as a
 * kernel output. The kernels here are compositions of other kernels (each backed by
 * XNNPACK or the backend's own C++), so they run tfjs ops inside a kernel: inputs get
 * an extra reference while wrapped, intermediates are freed by `tidy`, and the result
 * keeps exactly the one reference the engine takes over.
 */
export function composeKernel(
  kernelBackend: unknown,
  inputs: TensorInfo[],
  compute: (...tensors: Tensor[]) => Tensor,
): TensorInfo {
  // Kernel functions receive the backend untyped (`{}`); it is the active KernelBackend.
  const backend = kernelBackend as KernelBackend;
  const out = tidy(() => {
    const tensors = inputs.map((info) => {
      backend.incRef(info.dataId);
      return engine().makeTensorFromTensorInfo(info, backend);
    });
    return compute(...tensors);
  });
  backend.incRef(out.dataId);
  const info: TensorInfo = { dataId: out.dataId, shape: out.shape, dtype: out.dtype };
  out.dispose();
  return info;
}
