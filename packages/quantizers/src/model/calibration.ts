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

/**
 * Runs `use` with every activation range of the model fixed, then lets the ranges that
 * were still calibrating update again. For evaluating a student mid-calibration (in a
 * progress callback during warm-up, say): without it the evaluation images would move
 * the ranges. If `use` returns a promise, the ranges stay fixed until it settles; they
 * are restored when `use` throws or rejects too.
 *
 * @returns what `use` returns.
 */
export function withFrozenActivationRanges<T>(model: LayersModel, use: () => T): T {
  const calibrating = activationQuantizers(model).filter((quantizer) => !quantizer.frozen);
  for (const quantizer of calibrating) quantizer.freeze();
  const restore = () => {
    for (const quantizer of calibrating) quantizer.unfreeze();
  };
  let result: T;
  try {
    result = use();
  } catch (error) {
    restore();
    throw error;
  }
  if (result instanceof Promise) return result.finally(restore) as T;
  restore();
  return result;
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
