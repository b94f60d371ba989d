import type { layers, Shape } from '@tensorflow/tfjs-layers';

/** The arguments every tfjs-layers Layer takes (name, trainable, input shape, ...). */
export type BaseLayerArgs = NonNullable<ConstructorParameters<typeof layers.Layer>[0]>;

/** A positive integer option, or a clear error naming the layer and option. */
export function positiveInt(value: unknown, layer: string, option: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`${layer}: ${option} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** `n` or `[a, b]` as a pair of positive integers. */
export function positivePair(
  value: number | readonly number[] | undefined,
  fallback: number,
  layer: string,
  option: string,
): [number, number] {
  const raw = value ?? fallback;
  const pair = typeof raw === 'number' ? [raw, raw] : [...raw];
  if (pair.length !== 2) {
    throw new RangeError(`${layer}: ${option} must be a number or a pair, got ${JSON.stringify(raw)}`);
  }
  return [positiveInt(pair[0], layer, option), positiveInt(pair[1], layer, option)];
}

/** Convolution padding modes the quantized layers support. */
export type ConvPadding = 'valid' | 'same';

/** The spatial options every 2-D convolution takes, as tfjs-layers spells them. */
export interface ConvGeometryArgs {
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  padding?: ConvPadding;
  dilationRate?: number | [number, number];
  /** Only 'channelsLast' (NHWC). */
  dataFormat?: string;
}

/** Validated convolution geometry, also the layer-config entries it serialises to. */
export interface ConvGeometry {
  kernelSize: [number, number];
  strides: [number, number];
  padding: ConvPadding;
  dilationRate: [number, number];
}

/** Checks and normalises convolution options; errors name the layer and the option. */
export function convGeometry(args: ConvGeometryArgs, layer: string): ConvGeometry {
  if (args.dataFormat != null && args.dataFormat !== 'channelsLast') {
    throw new RangeError(
      `${layer}: only dataFormat 'channelsLast' (NHWC) is supported, got ${JSON.stringify(args.dataFormat)}`,
    );
  }
  const padding = args.padding ?? 'valid';
  if (padding !== 'valid' && padding !== 'same') {
    throw new RangeError(`${layer}: padding must be 'valid' or 'same', got ${JSON.stringify(args.padding)}`);
  }
  return {
    kernelSize: positivePair(args.kernelSize, 1, layer, 'kernelSize'),
    strides: positivePair(args.strides, 1, layer, 'strides'),
    padding,
    dilationRate: positivePair(args.dilationRate, 1, layer, 'dilationRate'),
  };
}

/** Output shape `[batch, height, width, channels]` of a convolution on an NHWC input shape. */
export function convOutputShape(inputShape: Shape, geometry: ConvGeometry, channels: number): Shape {
  const spatial = ([0, 1] as const).map((i) =>
    convOutputLength(
      inputShape[i + 1] ?? null,
      geometry.kernelSize[i],
      geometry.strides[i],
      geometry.dilationRate[i],
      geometry.padding,
    ),
  );
  return [inputShape[0] ?? null, ...spatial, channels];
}

/**
 * Spatial output length of a convolution or pooling window, `null` when unknown.
 * Same formula as Keras: 'same' keeps ceil(n / stride), 'valid' drops the border.
 */
function convOutputLength(
  length: number | null,
  kernel: number,
  stride: number,
  dilation: number,
  padding: ConvPadding,
): number | null {
  if (length == null) return null;
  const span = (kernel - 1) * dilation + 1;
  return padding === 'same' ? Math.ceil(length / stride) : Math.ceil((length - span + 1) / stride);
}
