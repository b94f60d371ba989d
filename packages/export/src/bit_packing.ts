/**
 * Packs unsigned integers of `bits` bits (1 to 8) into bytes, least significant bit
 * first, with no padding between values: `ceil(count * bits / 8)` bytes.
 * @throws RangeError naming the first value that does not fit.
 */
export function packBits(values: ArrayLike<number>, bits: number): Uint8Array {
  checkBits(bits);
  const limit = 2 ** bits;
  const out = new Uint8Array(packedBytes(values.length, bits));
  let bitPos = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!(Number.isInteger(v) && v >= 0 && v < limit)) {
      throw new RangeError(`packBits: value ${v} at index ${i} is not an unsigned ${bits}-bit integer`);
    }
    const byte = bitPos >> 3;
    const shift = bitPos & 7;
    out[byte] = (out[byte] as number) | ((v << shift) & 0xff);
    // A value straddles two bytes when it does not fit in what is left of this one.
    if (shift + bits > 8) out[byte + 1] = v >> (8 - shift);
    bitPos += bits;
  }
  return out;
}

/** The inverse of {@link packBits}: `count` unsigned `bits`-bit integers. */
export function unpackBits(bytes: Uint8Array, bits: number, count: number): Int32Array {
  checkBits(bits);
  if (bytes.length < packedBytes(count, bits)) {
    throw new RangeError(
      `unpackBits: ${count} ${bits}-bit values need ${packedBytes(count, bits)} bytes, got ${bytes.length}`,
    );
  }
  const mask = 2 ** bits - 1;
  const out = new Int32Array(count);
  let bitPos = 0;
  for (let i = 0; i < count; i++) {
    const byte = bitPos >> 3;
    const shift = bitPos & 7;
    let word = (bytes[byte] as number) >> shift;
    if (shift + bits > 8) word |= (bytes[byte + 1] as number) << (8 - shift);
    out[i] = word & mask;
    bitPos += bits;
  }
  return out;
}

/** Bytes {@link packBits} uses for `count` values of `bits` bits. */
export function packedBytes(count: number, bits: number): number {
  return Math.ceil((count * bits) / 8);
}

function checkBits(bits: number): void {
  if (!(Number.isInteger(bits) && bits >= 1 && bits <= 8)) {
    throw new RangeError(`bit packing: bits must be an integer from 1 to 8, got ${bits}`);
  }
}
