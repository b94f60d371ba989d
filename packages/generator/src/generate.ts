import type { Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/**
 * Runs a generator in training mode (its BatchNorms normalise with the batch's own
 * statistics, as GDFQ and Qimera do). Pass class weights for class-conditional ones.
 */
export function generateImages(generator: LayersModel, latent: Tensor, classWeights?: Tensor): Tensor {
  const expectsWeights = generator.inputs.length === 2;
  if (expectsWeights !== (classWeights !== undefined)) {
    throw new Error(
      `generateImages: generator '${generator.name}' ${expectsWeights ? 'is class-conditional and needs' : 'takes no'} class weights`,
    );
  }
  return generator.apply(classWeights ? [latent, classWeights] : latent, { training: true }) as Tensor;
}
