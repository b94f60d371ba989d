import { mapSlots } from '@qimera/disentangle';
import { generateImages } from '@qimera/generator';
import { type ClassEmbedding, type LabelBatch, superposedLatent } from '@qimera/superposition';
import type { Tensor, Tensor2D } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { DistillSettings } from './settings.js';

/** The trained image source: generator, class embedding and (Qimera) disentanglement mapping. */
export interface GeneratorModels {
  generator: LayersModel;
  embedding: ClassEmbedding;
  mapping: LayersModel | null;
}

/**
 * The generator's images for a label batch, as training makes them: each slot's
 * embedding row plus noise, normalised, mapped, mixed by the coefficients, then the
 * generator in training mode (class-conditional ones also take `targets`).
 */
export function generateFromLabels(
  models: GeneratorModels,
  labels: LabelBatch,
  targets: Tensor2D,
  settings: Pick<DistillSettings, 'noiseScale' | 'embeddingNormalization'>,
  noiseSeed: number,
): Tensor {
  const { generator, embedding, mapping } = models;
  const latent = superposedLatent(labels, embedding, {
    noiseScale: settings.noiseScale,
    normalization: settings.embeddingNormalization,
    noiseSeed,
    ...(mapping ? { mapSlots: (slots) => mapSlots(mapping, slots) } : {}),
  });
  return generateImages(generator, latent, generator.inputs.length === 2 ? targets : undefined);
}
