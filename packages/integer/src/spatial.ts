import { maxPool, tensor4d, tidy } from '@tensorflow/tfjs-core';
import type { IntTensor } from './int_tensor.js';

/** Zero padding of an NHWC integer tensor: `[[top, bottom], [left, right]]`. */
export function padSpatial(x: IntTensor, padding: [[number, number], [number, number]]): IntTensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const [[top, bottom], [left, right]] = padding;
  const [oh, ow] = [h + top + bottom, w + left + right];
  const out = new Int32Array(n * oh * ow * c);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < h; y++) {
      const from = (b * h + y) * w * c;
      const to = ((b * oh + y + top) * ow + left) * c;
      out.set(x.data.subarray(from, from + w * c), to);
    }
  }
  return { data: out, shape: [n, oh, ow, c] };
}

/** Sums over height and width: `[n, h, w, c] -> [n, c]`. */
export function sumSpatial(x: IntTensor): IntTensor {
  const [n, h, w, c] = x.shape as [number, number, number, number];
  const out = new Int32Array(n * c);
  for (let b = 0; b < n; b++) {
    for (let p = 0; p < h * w; p++) {
      const base = (b * h * w + p) * c;
      for (let k = 0; k < c; k++) out[b * c + k] = (out[b * c + k] as number) + (x.data[base + k] as number);
    }
  }
  return { data: out, shape: [n, c] };
}

/** Max pooling (the values are quantized activations, exact in float32). */
export function maxPoolInt(
  x: IntTensor,
  poolSize: [number, number],
  strides: [number, number],
  padding: 'valid' | 'same',
): IntTensor {
  const out = tidy(() =>
    maxPool(
      tensor4d(Float32Array.from(x.data), x.shape as [number, number, number, number]),
      poolSize,
      strides,
      padding,
    ),
  );
  const result = { data: Int32Array.from(out.dataSync()), shape: out.shape };
  out.dispose();
  return result;
}

/** Concatenation along the last (channel) axis. */
export function concatChannels(parts: IntTensor[]): IntTensor {
  const first = parts[0] as IntTensor;
  const outer = first.data.length / (first.shape[first.shape.length - 1] as number);
  const widths = parts.map((p) => p.shape[p.shape.length - 1] as number);
  const total = widths.reduce((a, b) => a + b, 0);
  const out = new Int32Array(outer * total);
  for (let i = 0; i < outer; i++) {
    let offset = i * total;
    parts.forEach((part, k) => {
      const width = widths[k] as number;
      out.set(part.data.subarray(i * width, (i + 1) * width), offset);
      offset += width;
    });
  }
  return { data: out, shape: [...first.shape.slice(0, -1), total] };
}
