import { type backend_util, pad, reshape, slice, type Tensor4D } from '@tensorflow/tfjs-core';

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

/** Explicit NHWC padding, as tfjs convolutions take it. */
export type SpatialPadding = [[0, 0], [number, number], [number, number], [0, 0]];

/**
 * `padOrCrop` in two parts: the crops (negative amounts) applied to `x`, the paddings
 * returned for a convolution to apply, which pads without copying the tensor (XNNPACK
 * reads zeros for pixels outside it).
 */
export function cropForPaddedConv(
  x: Tensor4D,
  amounts: [number, number, number, number],
): { cropped: Tensor4D; padding: SpatialPadding } {
  const [top, bottom, left, right] = amounts.map((a) => Math.max(a, 0)) as [number, number, number, number];
  return {
    cropped: padOrCrop(x, amounts.map((a) => Math.min(a, 0)) as [number, number, number, number]),
    padding: [
      [0, 0],
      [top, bottom],
      [left, right],
      [0, 0],
    ],
  };
}

/**
 * How far a convolution's forward input must be padded (positive) or cropped
 * (negative) to be exactly the window the convolution reads: `(k - 1)·d + (out - 1)·s + 1`
 * rows and columns, the forward padding on top / left. `[top, bottom, left, right]`.
 */
export function convolutionWindow(info: backend_util.Conv2DInfo): [number, number, number, number] {
  const span = (kernel: number, dilation: number, out: number, stride: number) =>
    (kernel - 1) * dilation + (out - 1) * stride + 1;
  const height = span(info.filterHeight, info.dilationHeight, info.outHeight, info.strideHeight);
  const width = span(info.filterWidth, info.dilationWidth, info.outWidth, info.strideWidth);
  const { top, left } = info.padInfo;
  return [top, height - info.inHeight - top, left, width - info.inWidth - left];
}

/**
 * The output gradient laid out for the input gradient as a stride-1 "full"
 * convolution: zero-stuffed by the forward stride, with the padding (crops applied,
 * paddings returned) that makes a convolution with the reversed filter give exactly
 * the input's height and width.
 */
export function spreadOutputGradient(
  dy: Tensor4D,
  info: backend_util.Conv2DInfo,
): { cropped: Tensor4D; padding: SpatialPadding } {
  const stuffed = dilateSpatial(dy, info.strideHeight, info.strideWidth);
  const reachHeight = (info.filterHeight - 1) * info.dilationHeight;
  const reachWidth = (info.filterWidth - 1) * info.dilationWidth;
  const top = reachHeight - info.padInfo.top;
  const left = reachWidth - info.padInfo.left;
  return cropForPaddedConv(stuffed, [
    top,
    info.inHeight + reachHeight - top - stuffed.shape[1],
    left,
    info.inWidth + reachWidth - left - stuffed.shape[2],
  ]);
}
