/**
 * Draws NHWC images (grey or RGB) side by side on a canvas, `zoom` pixels per pixel.
 * Values map to grey levels through `range` (the model's input range), or through each
 * image's own min and max when the range is unknown.
 */
export function drawImages(
  canvas: HTMLCanvasElement,
  images: Float32Array | Float64Array,
  shape: readonly [number, number, number, number],
  range: readonly [number, number] | null,
  zoom = 3,
): void {
  const [count, height, width, channels] = shape;
  const gap = 2;
  canvas.width = count * (width + gap) * zoom;
  canvas.height = height * zoom;
  const context = canvas.getContext('2d');
  if (!context) return;
  context.imageSmoothingEnabled = false;
  const size = height * width * channels;
  const tile = document.createElement('canvas');
  tile.width = width;
  tile.height = height;
  const tileContext = tile.getContext('2d');
  if (!tileContext) return;
  for (let n = 0; n < count; n++) {
    const values = images.subarray(n * size, (n + 1) * size);
    const [lo, hi] = range ?? extent(values);
    const pixels = tileContext.createImageData(width, height);
    for (let p = 0; p < height * width; p++) {
      for (let k = 0; k < 3; k++) {
        const value = values[p * channels + (channels === 3 ? k : 0)] as number;
        pixels.data[p * 4 + k] = Math.round((255 * (value - lo)) / (hi - lo || 1));
      }
      pixels.data[p * 4 + 3] = 255;
    }
    tileContext.putImageData(pixels, 0, 0);
    context.drawImage(tile, n * (width + gap) * zoom, 0, width * zoom, height * zoom);
  }
}

function extent(values: Float32Array | Float64Array): [number, number] {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return [lo, hi];
}
