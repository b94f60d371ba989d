import type { io } from '@tensorflow/tfjs-core';

const VALUE_BYTES: Readonly<Record<string, number>> = {
  float32: 4,
  int32: 4,
  bool: 1,
  complex64: 8,
  uint8: 1,
  uint16: 2,
  float16: 2,
};

/**
 * Bytes a manifest entry occupies in the weights data (quantized entries store
 * `quantization.dtype`), or null when it cannot be known (string tensors).
 */
export function entryBytes(entry: io.WeightsManifestEntry): number | null {
  const dtype = entry.quantization?.dtype ?? entry.dtype;
  const size = VALUE_BYTES[dtype];
  if (size === undefined) return null;
  return entry.shape.reduce((n, d) => n * d, 1) * size;
}

/** Bytes a whole weights group should occupy, or null when it cannot be known. */
export function groupBytes(entries: io.WeightsManifestEntry[]): number | null {
  let total = 0;
  for (const entry of entries) {
    const bytes = entryBytes(entry);
    if (bytes === null) return null;
    total += bytes;
  }
  return total;
}

/**
 * What is wrong with the form of a weights-manifest entry (a name, a shape of
 * non-negative integers), or null. Checked before any size is computed or tensor
 * decoded: tfjs decodes all entries at once, so one bad entry would leave the tensors
 * decoded before it behind.
 */
export function entryProblem(entry: unknown): string | null {
  if (typeof entry !== 'object' || entry === null) return `must be an object, got ${JSON.stringify(entry)}`;
  const { name, shape } = entry as Partial<io.WeightsManifestEntry>;
  if (typeof name !== 'string') return `needs a name, got ${JSON.stringify(name)}`;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    return `('${name}') needs a shape of non-negative integers, got ${JSON.stringify(shape)}`;
  }
  return null;
}
