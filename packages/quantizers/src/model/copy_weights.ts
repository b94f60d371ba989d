import type { LayersModel } from '@tensorflow/tfjs-layers';

/**
 * Copies the weights of every layer of `source` that has any into the layer of the same
 * name in `target` (a rebuilt twin of `source`), and returns `target`. On failure
 * (a missing layer, a shape mismatch) `target` is disposed before the error propagates,
 * so no half-filled model is left behind.
 */
export function copyWeightsByName(source: LayersModel, target: LayersModel): LayersModel {
  try {
    for (const layer of source.layers) {
      if (layer.weights.length > 0) target.getLayer(layer.name).setWeights(layer.getWeights());
    }
  } catch (error) {
    target.dispose();
    throw error;
  }
  return target;
}
