/** How real values map onto the integer grid. */
export type QuantScheme = 'asymmetric' | 'symmetric';

/** Bit width and scheme of one quantizer. */
export interface QuantSpec {
  /** Integer bit width, 2 to 16. */
  bits: number;
  /**
   * `'asymmetric'`: unsigned integers `[0, 2^bits - 1]` with an integral zero point.
   * `'symmetric'`: signed integers `[-(2^(bits-1) - 1), 2^(bits-1) - 1]`, zero point 0
   * (the restricted range keeps the grid symmetric around zero).
   */
  scheme: QuantScheme;
}

/** Smallest and largest supported bit widths. */
export const MIN_BITS = 2;
export const MAX_BITS = 16;

const SCHEMES: readonly QuantScheme[] = ['asymmetric', 'symmetric'];

/**
 * Checks a bit width and returns it.
 * @param what names the option or layer in the error message.
 * @throws RangeError unless `bits` is an integer in [2, 16].
 */
export function validateBits(bits: unknown, what: string): number {
  if (typeof bits !== 'number' || !Number.isInteger(bits) || bits < MIN_BITS || bits > MAX_BITS) {
    throw new RangeError(`${what}: bit width must be an integer from ${MIN_BITS} to ${MAX_BITS}, got ${String(bits)}`);
  }
  return bits;
}

/**
 * Checks a scheme name and returns it.
 * @throws RangeError unless `scheme` is 'asymmetric' or 'symmetric'.
 */
export function validateScheme(scheme: unknown, what: string): QuantScheme {
  if (!SCHEMES.includes(scheme as QuantScheme)) {
    throw new RangeError(`${what}: scheme must be 'asymmetric' or 'symmetric', got ${JSON.stringify(scheme)}`);
  }
  return scheme as QuantScheme;
}

/** The integer range `[qmin, qmax]` a spec quantizes to. */
export function integerRange(spec: QuantSpec): { qmin: number; qmax: number } {
  if (spec.scheme === 'asymmetric') return { qmin: 0, qmax: 2 ** spec.bits - 1 };
  const qmax = 2 ** (spec.bits - 1) - 1;
  return { qmin: -qmax, qmax };
}
