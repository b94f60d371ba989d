/** Digits bundled into the page: 28x28 grey images as base64 little-endian uint16 thousandths. */
export interface DigitBundle {
  size: number;
  /** The teacher's input normalisation: `(pixel - mean) / std`. */
  mean: number;
  std: number;
  labels: number[];
  thousandths: string;
}

/** Decoded digits: raw pixels in [0, 1] (for display) and normalised as the teacher takes them. */
export interface Digits {
  size: number;
  count: number;
  pixels: Float64Array;
  normalised: Float32Array;
  labels: Int32Array;
  /** The normalised values of pixels 0 and 1: the teacher's input range. */
  inputRange: [number, number];
}

/** Decodes a {@link DigitBundle}, in a browser or in Node. */
export function decodeDigits(bundle: DigitBundle): Digits {
  const bytes = Uint8Array.from(atob(bundle.thousandths), (c) => c.charCodeAt(0));
  const thousandths = new Uint16Array(bytes.buffer);
  const pixels = Float64Array.from(thousandths, (t) => t / 1000);
  const normalise = (p: number) => (p - bundle.mean) / bundle.std;
  return {
    size: bundle.size,
    count: bundle.labels.length,
    pixels,
    normalised: Float32Array.from(pixels, normalise),
    labels: Int32Array.from(bundle.labels),
    inputRange: [normalise(0), normalise(1)],
  };
}
