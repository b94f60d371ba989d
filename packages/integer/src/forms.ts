import { roundHalfEven, toFixedPoint } from './fixed_point.js';
import { channelsOf, type IntTensor } from './int_tensor.js';

/**
 * One integer tensor and the real value of one unit of it, per channel (or one for
 * all), with a proven bound on its magnitude (from bit widths and kernels, not data).
 */
export interface Term {
  values: IntTensor;
  multiplier: Float64Array;
  bound: number;
}

/**
 * A tensor as integer arithmetic holds it between requantizations: the real value is
 * `sum_i multiplier_i[c] * values_i`, optionally passed through a ReLU capped at `reluCap`
 * (Infinity for a plain ReLU). A quantized activation is one term with one multiplier
 * (its scale) holding `q - zeroPoint`; a layer's accumulators are one term with one
 * multiplier per output channel; an Add of both is two terms.
 */
export interface Form {
  terms: Term[];
  reluCap: number | null;
}

/** Fractional bits (of an output step) each term keeps before the one final rounding. */
const PARTIAL_BITS = 20;
// Multipliers are split into 16-bit halves so that each partial product with an int32
// value is an exact integer below 2^47.
const HALF = 2 ** 16;

/** The grid a requantization lands on. */
export interface OutputGrid {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

/**
 * Requantization: `q = clamp(round(sum_i values_i * multiplier_i / scale) + zeroPoint)`,
 * with each `multiplier_i / scale` a fixed-point number (31-bit integer and a shift),
 * the 62-bit products formed from two exact partial products (the multiplier's 16-bit
 * halves), each term rounded to 2^-20 of an output step, the sum rounded once (ties to
 * even). A ReLU becomes a clamp at the zero point, a ReLU6 also
 * at `round(6 / scale)` steps above it. Returns `q - zeroPoint`.
 */
export function requantize(form: Form, grid: OutputGrid): IntTensor {
  const first = form.terms[0] as Term;
  const size = first.values.data.length;
  const channels = channelsOf(first.values);
  // Per term and channel, the multiplier's high and low halves, each times
  // 2^(PARTIAL_BITS - shift): scaling by a power of two is exact, so value * high and
  // value * low are exact; their sum is value * multiplier, shifted, to 2^-53 relative,
  // far finer than the 2^-20 step it is rounded to.
  const halves = form.terms.map((term) => {
    const high = new Float64Array(channels);
    const low = new Float64Array(channels);
    for (let c = 0; c < channels; c++) {
      const { multiplier, shift } = toFixedPoint(multiplierAt(term, c) / grid.scale);
      const place = 2 ** (PARTIAL_BITS - shift);
      high[c] = Math.floor(multiplier / HALF) * HALF * place;
      low[c] = (multiplier % HALF) * place;
    }
    return { high, low };
  });
  const values = form.terms.map((term) => term.values.data);
  const cap = form.reluCap === null ? Infinity : roundHalfEven(Math.fround(form.reluCap / grid.scale));
  const lo = Math.max(grid.qmin - grid.zeroPoint, form.reluCap === null ? -Infinity : 0);
  const hi = Math.min(grid.qmax - grid.zeroPoint, cap);
  const unit = 2 ** -PARTIAL_BITS;
  const out = new Int32Array(size);
  const clampToGrid = (steps: number) => Math.min(Math.max(steps, lo), hi);
  if (values.length === 1) {
    // One term (a convolution's accumulators, the common case): no per-term indirection.
    const [v0, { high, low }] = [values[0] as Int32Array, halves[0] as { high: Float64Array; low: Float64Array }];
    for (let start = 0; start < size; start += channels) {
      for (let c = 0; c < channels; c++) {
        const v = v0[start + c] as number;
        out[start + c] = clampToGrid(
          roundHalfEven(roundHalfEven(v * (high[c] as number) + v * (low[c] as number)) * unit),
        );
      }
    }
    return { data: out, shape: first.values.shape };
  }
  for (let start = 0; start < size; start += channels) {
    for (let c = 0; c < channels; c++) {
      let sum = 0;
      for (let t = 0; t < values.length; t++) {
        const v = (values[t] as Int32Array)[start + c] as number;
        const { high, low } = halves[t] as { high: Float64Array; low: Float64Array };
        sum += roundHalfEven(v * (high[c] as number) + v * (low[c] as number));
      }
      out[start + c] = clampToGrid(roundHalfEven(sum * unit));
    }
  }
  return { data: out, shape: first.values.shape };
}

/** The real values of a form (the model's dequantized output), in float32. */
export function dequantizeForm(form: Form): Float32Array {
  const first = form.terms[0] as Term;
  const channels = channelsOf(first.values);
  const out = new Float32Array(first.values.data.length);
  for (let i = 0; i < out.length; i++) {
    const c = i % channels;
    let sum = 0;
    for (const term of form.terms) sum += multiplierAt(term, c) * (term.values.data[i] as number);
    out[i] = form.reluCap === null ? sum : Math.min(Math.max(sum, 0), form.reluCap);
  }
  return out;
}

/** A term's multiplier for channel `c`. */
export function multiplierAt(term: Term, c: number): number {
  return (term.multiplier.length === 1 ? term.multiplier[0] : term.multiplier[c]) as number;
}

/** A term's multipliers, one per channel. */
export function perChannel(term: Term): Float64Array {
  const channels = channelsOf(term.values);
  return Float64Array.from({ length: channels }, (_, c) => multiplierAt(term, c));
}
