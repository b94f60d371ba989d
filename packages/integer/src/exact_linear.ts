import type { ConvGeometry } from '@qimera/quantizers';
import { conv2d, depthwiseConv2d, matMul, type Tensor, tensor, tidy } from '@tensorflow/tfjs-core';
import type { IntTensor } from './int_tensor.js';

/** The linear maps of the quantized weight layers. */
export type LinearKind = 'conv2d' | 'depthwise' | 'dense';

// float32 represents every integer of magnitude up to 2^24 exactly.
const EXACT_FLOAT32 = 2 ** 24;
const INT32_LIMIT = 2 ** 31;

/**
 * The integer result of a convolution or matrix product of integer tensors, i.e. the
 * int32 accumulators of an integer engine.
 *
 * The products are summed by the backend's float32 kernels, which is exact when every
 * partial sum is an integer below 2^24 in magnitude: bounded by
 * `max|x| * max|w| * (terms per output)`. When that bound is not met, the kernel is
 * split into base-2^b digits (`w = sum_j d_j * 2^(b*j)`) small enough to meet it, each
 * digit is applied separately, and the digit results are combined in exact integer
 * arithmetic. Whatever the bound, the result equals int32 arithmetic bit for bit.
 *
 * @param inputBound a bound on `|x|` (default: its largest magnitude); the split is
 *   decided from it, so a proven bound makes the arithmetic independent of the data.
 * @throws RangeError if an accumulator leaves the int32 range.
 */
export function exactLinear(
  kind: LinearKind,
  x: IntTensor,
  kernel: IntTensor,
  geometry?: ConvGeometry,
  inputBound = maxAbs(x.data),
): IntTensor {
  const terms = termsPerOutput(kind, kernel.shape);
  const maxX = inputBound;
  const digits = kernelDigits(kernel, maxX, terms);
  const xFloat = tensor(Float32Array.from(x.data), x.shape, 'float32');
  try {
    const results = digits.map(({ values }) => {
      const out = tidy(() => linear(kind, xFloat, tensor(values, kernel.shape, 'float32'), geometry));
      const data = out.dataSync() as Float32Array;
      const shape = out.shape;
      out.dispose();
      return { data, shape };
    });
    const [first] = results as [{ data: Float32Array; shape: number[] }];
    // One digit: every sum is below 2^24, so int32 holds it.
    if (results.length === 1) return { data: Int32Array.from(first.data), shape: first.shape };
    const result = new Int32Array(first.data.length);
    for (let i = 0; i < result.length; i++) {
      let v = 0;
      for (let d = 0; d < results.length; d++)
        v += (digits[d] as { weight: number }).weight * ((results[d] as { data: Float32Array }).data[i] as number);
      if (Math.abs(v) >= INT32_LIMIT) throw new RangeError(`integer accumulator ${v} overflows int32`);
      result[i] = v;
    }
    return { data: result, shape: first.shape };
  } finally {
    xFloat.dispose();
  }
}

function linear(kind: LinearKind, x: Tensor, w: Tensor, geometry?: ConvGeometry): Tensor {
  if (kind === 'dense') return matMul(x as never, w as never);
  const { strides, padding, dilationRate } = geometry as ConvGeometry;
  return kind === 'conv2d'
    ? conv2d(x as never, w as never, strides, padding, 'NHWC', dilationRate)
    : depthwiseConv2d(x as never, w as never, strides, padding, 'NHWC', dilationRate);
}

/** Products summed into each output: kh*kw*in (conv), kh*kw (depthwise), in (dense). */
function termsPerOutput(kind: LinearKind, shape: number[]): number {
  const [a = 1, b = 1, c = 1] = shape;
  return kind === 'dense' ? a : kind === 'depthwise' ? a * b : a * b * c;
}

/** The kernel as digits whose partial sums stay exact in float32, with their place values. */
function kernelDigits(kernel: IntTensor, maxX: number, terms: number): { values: Float32Array; weight: number }[] {
  const maxW = maxAbs(kernel.data);
  if (maxX * maxW * terms < EXACT_FLOAT32) return [{ values: Float32Array.from(kernel.data), weight: 1 }];
  // Largest digit magnitude (base) that keeps each digit's sums exact.
  let bits = Math.floor(Math.log2(EXACT_FLOAT32 / Math.max(maxX * terms, 1)));
  while (bits >= 1 && maxX * 2 ** bits * terms >= EXACT_FLOAT32) bits--;
  if (bits < 1) {
    throw new RangeError(`integer inputs up to ${maxX} over ${terms} terms per output cannot be summed exactly`);
  }
  const base = 2 ** bits;
  const digits: { values: Float32Array; weight: number }[] = [];
  let rest = Int32Array.from(kernel.data);
  let place = 1;
  // Low digits in [0, base) with the rest carried by floor division, until every
  // remainder fits in (-base, base): that last digit keeps the sign.
  while (rest.some((v) => Math.abs(v) >= base)) {
    digits.push({ values: Float32Array.from(rest, (v) => v - Math.floor(v / base) * base), weight: place });
    rest = Int32Array.from(rest, (v) => Math.floor(v / base));
    place *= base;
  }
  digits.push({ values: Float32Array.from(rest), weight: place });
  return digits;
}

function maxAbs(values: Int32Array): number {
  let max = 0;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i] as number);
    if (v > max) max = v;
  }
  return max;
}
