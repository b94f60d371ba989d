/** An integer tensor held in JS memory (NHWC or [batch, features]). */
export interface IntTensor {
  data: Int32Array;
  shape: number[];
}

/** Channels: the last dimension. */
export function channelsOf(t: IntTensor): number {
  return t.shape[t.shape.length - 1] as number;
}
