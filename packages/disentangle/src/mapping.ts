import { reshape, type Tensor2D, type Tensor3D, tidy } from '@tensorflow/tfjs-core';
import { initializers, type LayersModel, layers, sequential } from '@tensorflow/tfjs-layers';

/** Options of {@link createDisentanglementMapping}. */
export interface MappingOptions {
  /** Length of each (normalised) embedding slot. */
  latentDim: number;
  /** Output length, the generator's input. Default 100 (Qimera). */
  intermediateDim?: number;
  /** Seed of the weight initialiser. Default 1. */
  seed?: number;
}

/**
 * Qimera's disentanglement mapping: one Dense layer latentDim -> intermediateDim (with
 * bias, PyTorch-style init), applied to every slot before the slots are superposed, so
 * the generator sees mixtures in a space it learns rather than in the embedding space.
 */
export function createDisentanglementMapping(options: MappingOptions): LayersModel {
  const out = options.intermediateDim ?? 100;
  for (const [name, value] of [
    ['latentDim', options.latentDim],
    ['intermediateDim', out],
  ] as const) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`createDisentanglementMapping: ${name} must be a positive integer, got ${value}`);
  }
  const mapping = sequential({ name: 'disentanglement_mapping' });
  mapping.add(
    layers.dense({
      name: 'dm',
      inputShape: [options.latentDim],
      units: out,
      kernelInitializer: initializers.varianceScaling({
        scale: 1 / 3,
        mode: 'fanIn',
        distribution: 'uniform',
        seed: options.seed ?? 1,
      }),
      biasInitializer: 'zeros',
    }),
  );
  return mapping;
}

/** Applies the mapping to each slot of `[batch, slots, latentDim]`, giving `[batch, slots, out]`. */
export function mapSlots(mapping: LayersModel, slots: Tensor3D): Tensor3D {
  return tidy(() => {
    const [batch, count, dim] = slots.shape;
    const mapped = mapping.apply(reshape(slots, [batch * count, dim])) as Tensor2D;
    return reshape(mapped, [batch, count, mapped.shape[1] as number]) as Tensor3D;
  });
}
