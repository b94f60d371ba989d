import { cast, isInf, isNaN as nanMask, stack, sum, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** A weight that holds NaN or infinite values, and how many of each. */
export interface NonFiniteWeight {
  layer: string;
  /** The weight's name, as in model.json (`conv1/kernel`). */
  weight: string;
  nan: number;
  infinite: number;
}

/**
 * Every float weight of `model` that holds NaN or ±Infinity (a corrupt weights file, a
 * diverged training), with counts: one pass over the weights and one read.
 */
export function nonFiniteWeights(model: LayersModel): NonFiniteWeight[] {
  const weights = model.layers.flatMap((layer) =>
    layer.weights.filter((w) => w.dtype === 'float32').map((w) => ({ layer: layer.name, weight: w })),
  );
  if (weights.length === 0) return [];
  const counts = tidy(() =>
    stack(
      weights.map(({ weight }) => {
        const value = weight.read();
        return stack([sum(cast(nanMask(value), 'int32')), sum(cast(isInf(value), 'int32'))]);
      }),
    ).dataSync(),
  );
  return weights.flatMap(({ layer, weight }, i) => {
    const nan = counts[2 * i] as number;
    const infinite = counts[2 * i + 1] as number;
    return nan + infinite > 0 ? [{ layer, weight: weight.originalName, nan, infinite }] : [];
  });
}

/** `layer 'conv1' weight 'conv1/kernel': 3 NaN, 0 infinite` */
export function describeNonFinite(found: NonFiniteWeight): string {
  return `layer '${found.layer}' weight '${found.weight}': ${found.nan} NaN, ${found.infinite} infinite`;
}
