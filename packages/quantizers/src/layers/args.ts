import type { layers } from '@tensorflow/tfjs-layers';

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

export function convPadding(value: unknown, layer: string): ConvPadding {
  const padding = value ?? 'valid';
  if (padding !== 'valid' && padding !== 'same') {
    throw new RangeError(`${layer}: padding must be 'valid' or 'same', got ${JSON.stringify(value)}`);
  }
  return padding;
}

/** Only NHWC is supported; tfjs-layers spells it 'channelsLast'. */
export function assertChannelsLast(dataFormat: unknown, layer: string): void {
  if (dataFormat != null && dataFormat !== 'channelsLast') {
    throw new RangeError(
      `${layer}: only dataFormat 'channelsLast' (NHWC) is supported, got ${JSON.stringify(dataFormat)}`,
    );
  }
}

/**
 * Spatial output length of a convolution or pooling window, `null` when unknown.
 * Same formula as Keras: 'same' keeps ceil(n / stride), 'valid' drops the border.
 */
export function convOutputLength(
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
