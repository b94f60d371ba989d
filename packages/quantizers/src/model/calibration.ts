import { type Tensor, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { ActivationQuantizer } from '../layers/activation_quantizer.js';

/** Every activation quantizer of a model, in layer order. */
export function activationQuantizers(model: LayersModel): ActivationQuantizer[] {
  return model.layers.filter((layer): layer is ActivationQuantizer => layer instanceof ActivationQuantizer);
}

/** Fix every activation range of the model. */
export function freezeActivationRanges(model: LayersModel): void {
  for (const quantizer of activationQuantizers(model)) quantizer.freeze();
}

/** Let every activation range update again from each forward. */
export function unfreezeActivationRanges(model: LayersModel): void {
  for (const quantizer of activationQuantizers(model)) quantizer.unfreeze();
}

/** Options of {@link calibrateActivationRanges}. */
export interface CalibrationOptions {
  /** Freeze the ranges afterwards. Default true. */
  freeze?: boolean;
}

/**
 * Runs each batch through the model once (inference mode) with its activation
 * quantizers unfrozen, so each batch is one observation for their observers, then
 * freezes them. Each batch is one forward: it is not split, so the observers see the
 * batch min/max the caller chose. Batches are not disposed; outputs are.
 *
 * @returns the number of batches observed.
 * @throws if the model has no activation quantizer or no batch was given.
 */
export async function calibrateActivationRanges(
  model: LayersModel,
  batches: Iterable<Tensor> | AsyncIterable<Tensor>,
  options: CalibrationOptions = {},
): Promise<number> {
  if (activationQuantizers(model).length === 0) {
    throw new Error(`calibrateActivationRanges: model '${model.name}' has no ActivationQuantizer layer`);
  }
  unfreezeActivationRanges(model);
  let count = 0;
  for await (const batch of batches) {
    tidy(() => {
      model.apply(batch);
    });
    count++;
  }
  if (count === 0) throw new Error('calibrateActivationRanges: no calibration batch was given');
  if (options.freeze ?? true) freezeActivationRanges(model);
  return count;
}
