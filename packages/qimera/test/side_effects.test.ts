// No test-support import here: this file checks what importing qimera alone does to a
// user's tfjs (a fresh process per test file).
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { layers, sequential } from '@tensorflow/tfjs-layers';
import { describe, expect, it } from 'vitest';

describe('importing qimera', () => {
  it("registers no backend and no kernel, and leaves the user's backend and models working", async () => {
    const kernelsBefore = tf.getKernelsForBackend('cpu').length;
    const umbrella = await import('qimera');
    await import('qimera/node');
    expect(tf.findBackendFactory('wasm')).toBeNull();
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    expect(tf.getKernelsForBackend('cpu')).toHaveLength(kernelsBefore);
    await tf.ready();
    expect(tf.getBackend()).toBe('cpu');
    const net = sequential({ layers: [layers.dense({ units: 2, inputShape: [3] })] });
    const y = net.predict(tf.ones([1, 3])) as tf.Tensor;
    expect(y.shape).toEqual([1, 2]);
    tf.dispose([y]);
    net.dispose();
    // The wasm training kernels need the wasm backend's own first, and say so.
    expect(() => umbrella.registerWasmTrainingKernels()).toThrow(
      "registerWasmTrainingKernels: the 'wasm' backend's kernels are not registered; import '@tensorflow/tfjs-backend-wasm' before calling it",
    );
  });
});
