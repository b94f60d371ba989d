/** Side length of a CIFAR image. */
export const CIFAR_SIZE = 32;
const PIXELS = CIFAR_SIZE * CIFAR_SIZE;
/** Bytes of one record in the binary release: 1 label byte, then R, G and B planes. */
export const CIFAR10_RECORD_BYTES = 1 + 3 * PIXELS;

/** The classes of CIFAR-10, in label order. */
export const CIFAR10_CLASSES = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
] as const;

/** Per-channel normalisation `(x / 255 - mean) / std`. */
export interface ChannelNormalization {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** The usual CIFAR-10 statistics (those the shared ResNet-20 teacher expects). */
export const CIFAR10_NORMALIZATION: ChannelNormalization = {
  mean: [0.4914, 0.4822, 0.4465],
  std: [0.247, 0.2435, 0.2616],
};

/** Images and labels decoded from CIFAR-10 binary records. */
export interface ImageBatch {
  /** NHWC float32, `count * 32 * 32 * 3` values. */
  images: Float32Array;
  labels: Uint8Array;
  count: number;
  /** `[count, 32, 32, 3]`, ready for `tf.tensor4d(images, shape)`. */
  shape: [number, number, number, number];
}

/** Options of {@link parseCifar10}. */
export interface Cifar10ParseOptions {
  /** First record to decode. Default 0. */
  offset?: number;
  /** Records to decode. Default: all from `offset`. */
  count?: number;
  /** Default {@link CIFAR10_NORMALIZATION}; `null` gives plain `x / 255` in [0, 1]. */
  normalization?: ChannelNormalization | null;
}

/**
 * Decodes records of the CIFAR-10 binary format (`data_batch_N.bin`, `test_batch.bin`
 * of the official `cifar-10-binary` release): each record is a label byte (0-9) then
 * 3,072 pixel bytes, the red plane, then green, then blue, each 32x32 row-major. The
 * planes are interleaved into NHWC.
 *
 * @throws RangeError if the data is not a whole number of records, the requested
 *   records lie outside it, or a label is not 0-9.
 */
export function parseCifar10(bytes: Uint8Array, options: Cifar10ParseOptions = {}): ImageBatch {
  if (bytes.byteLength % CIFAR10_RECORD_BYTES !== 0) {
    throw new RangeError(
      `CIFAR-10 data must be whole ${CIFAR10_RECORD_BYTES}-byte records; got ${bytes.byteLength} bytes ` +
        `(${bytes.byteLength % CIFAR10_RECORD_BYTES} left over: truncated or not a CIFAR-10 binary batch?)`,
    );
  }
  const available = bytes.byteLength / CIFAR10_RECORD_BYTES;
  const offset = options.offset ?? 0;
  const count = options.count ?? available - offset;
  if (!Number.isInteger(offset) || !Number.isInteger(count) || offset < 0 || count < 0 || offset + count > available) {
    throw new RangeError(`CIFAR-10 records ${offset}..${offset + count - 1} requested, the data holds ${available}`);
  }
  const norm = options.normalization === undefined ? CIFAR10_NORMALIZATION : options.normalization;
  const scale = [0, 1, 2].map((c) => 1 / (255 * (norm ? norm.std[c]! : 1)));
  const shift = [0, 1, 2].map((c) => (norm ? norm.mean[c]! / norm.std[c]! : 0));
  const images = new Float32Array(count * PIXELS * 3);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const record = (offset + n) * CIFAR10_RECORD_BYTES;
    const label = bytes[record]!;
    if (label > 9) throw new RangeError(`CIFAR-10 record ${offset + n} has label ${label}; labels are 0-9`);
    labels[n] = label;
    for (let c = 0; c < 3; c++) {
      const plane = record + 1 + c * PIXELS;
      for (let p = 0; p < PIXELS; p++) {
        images[(n * PIXELS + p) * 3 + c] = bytes[plane + p]! * scale[c]! - shift[c]!;
      }
    }
  }
  return { images, labels, count, shape: [count, CIFAR_SIZE, CIFAR_SIZE, 3] };
}
