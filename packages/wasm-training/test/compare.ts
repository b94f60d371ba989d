import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';

/** Runs `f` on the cpu backend (reference) and on wasm, returning both results as arrays. */
export async function onBothBackends(f: () => tf.Tensor[]): Promise<{ cpu: Float32Array[]; wasm: Float32Array[] }> {
  const run = async (name: string) => {
    await tf.setBackend(name);
    return tf.tidy(f).map((t) => {
      const values = t.dataSync() as Float32Array;
      t.dispose();
      return values;
    });
  };
  return { cpu: await run('cpu'), wasm: await run('wasm') };
}

/** Each wasm result within 1e-4 of the cpu one, relative to the cpu result's largest magnitude. */
export function expectRelativeClose(cpu: Float32Array[], wasm: Float32Array[]): void {
  expect(wasm.length).toBe(cpu.length);
  cpu.forEach((ref, k) => {
    const got = wasm[k] as Float32Array;
    expect(got.length).toBe(ref.length);
    let scale = 1e-6;
    let err = 0;
    ref.forEach((v, i) => {
      scale = Math.max(scale, Math.abs(v));
      err = Math.max(err, Math.abs(v - (got[i] as number)));
    });
    expect(err / scale).toBeLessThan(1e-4);
  });
}
