import { pad, reshape, slice, type Tensor4D } from '@tensorflow/tfjs-core';

/**
 * Pads (positive amounts) or crops (negative amounts) the two spatial axes of an NHWC
 * tensor: `[top, bottom, left, right]`.
 */
export function padOrCrop(x: Tensor4D, [top, bottom, left, right]: [number, number, number, number]): Tensor4D {
  const grow = [Math.max(top, 0), Math.max(bottom, 0), Math.max(left, 0), Math.max(right, 0)] as const;
  let out = grow.some((p) => p > 0)
    ? pad(x, [
        [0, 0],
        [grow[0], grow[1]],
        [grow[2], grow[3]],
        [0, 0],
      ])
    : x;
  const cut = [Math.max(-top, 0), Math.max(-bottom, 0), Math.max(-left, 0), Math.max(-right, 0)] as const;
  if (cut.some((c) => c > 0)) {
    const [n, h, w, c] = out.shape;
    out = slice(out, [0, cut[0], cut[2], 0], [n, h - cut[0] - cut[1], w - cut[2] - cut[3], c]);
  }
  return out;
}

/**
 * Inserts `stride - 1` zeros between neighbouring pixels of an NHWC tensor (the
 * "fractionally strided" view of a strided convolution's output gradient), by
 * reshape and pad only: `[n, h, w, c]` becomes `[n, (h-1)*sh+1, (w-1)*sw+1, c]`.
 */
export function dilateSpatial(x: Tensor4D, strideHeight: number, strideWidth: number): Tensor4D {
  if (strideHeight === 1 && strideWidth === 1) return x;
  const [n, h, w, c] = x.shape;
  const spread = pad(reshape(x, [n, h, 1, w, 1, c]), [
    [0, 0],
    [0, 0],
    [0, strideHeight - 1],
    [0, 0],
    [0, strideWidth - 1],
    [0, 0],
  ]);
  const full = reshape(spread, [n, h * strideHeight, w * strideWidth, c]);
  return slice(full, [0, 0, 0, 0], [n, (h - 1) * strideHeight + 1, (w - 1) * strideWidth + 1, c]) as Tensor4D;
}
