import { add, dispose, div, sub, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { type LayersModel, model, type SymbolicTensor, type layers as tfLayers } from '@tensorflow/tfjs-layers';
import { QuantizedWeightLayer } from '../layers/quantized_weight_layer.js';
import { splitIntoBatches } from './batches.js';

type Layer = tfLayers.Layer;

/** What {@link correctBias} changed. */
export interface BiasCorrectionReport {
  /** Layers whose own bias took the shift. */
  biases: string[];
  /** Layers without a bias whose following BatchNormalization's moving mean took it. */
  batchNorms: string[];
  /** Quantized layers left as they were (no bias, and not followed by a lone BatchNorm). */
  skipped: string[];
}

/**
 * Empirical bias correction (Nagel et al., 2019): quantizing a kernel shifts the mean of
 * each output channel by `E[(W - W_q) x]`; this measures that shift on `images` with
 * the float model's inputs to each layer and adds it back, to the layer's bias, or,
 * for a layer without one whose only consumer is a BatchNormalization, to that BN's
 * moving mean (the same correction after the BN's normalisation).
 *
 * @param student the quantized model (from `quantizeModel` of `reference`, unfolded).
 * @param reference the float model: its same-named layers give the kernels and the
 *   inputs the shift is measured on.
 * @param images input batch; split into batches of `batchSize` (default 64).
 * @throws if a quantized layer has no float twin with the same kernel shape.
 */
export function correctBias(
  student: LayersModel,
  reference: LayersModel,
  images: Tensor,
  batchSize = 64,
): BiasCorrectionReport {
  const layers = student.layers.filter((l): l is QuantizedWeightLayer => l instanceof QuantizedWeightLayer);
  const twins = layers.map((layer) => {
    const twin = reference.layers.find((l) => l.name === layer.name);
    // getWeights gives the layer's own variables: read, never disposed here.
    const kernel = twin?.getWeights()[0];
    if (!twin || !kernel || kernel.shape.join() !== layer.kernelWeight.shape.join()) {
      throw new Error(
        `correctBias: layer '${layer.name}' has no float twin with the same kernel in '${reference.name}'`,
      );
    }
    return twin;
  });
  const report: BiasCorrectionReport = { biases: [], batchNorms: [], skipped: [] };
  if (layers.length === 0) return report;
  const inputs = model({
    inputs: reference.inputs,
    outputs: twins.map((twin) => twin.input as SymbolicTensor),
  });
  const kernels = twins.map((twin) => twin.getWeights()[0] as Tensor);
  const sums: (Tensor | null)[] = layers.map(() => null);
  const positions: number[] = layers.map(() => 0);
  const batches = splitIntoBatches(images, batchSize);
  try {
    for (const batch of batches) {
      const layerInputs = tidy(() => {
        const out = inputs.predict(batch);
        return Array.isArray(out) ? out : [out];
      });
      layers.forEach((layer, i) => {
        const shift = layer.quantizationShift(layerInputs[i] as Tensor, kernels[i] as Tensor);
        const previous = sums[i];
        sums[i] = previous ? add(previous, shift.sum) : shift.sum;
        if (previous) dispose([previous, shift.sum]);
        positions[i] = (positions[i] as number) + shift.positions;
      });
      dispose(layerInputs);
    }
    layers.forEach((layer, i) => {
      const mean = div(sums[i] as Tensor, positions[i] as number);
      try {
        if (layer.useBias) {
          layer.addToBias(mean);
          report.biases.push(layer.name);
          return;
        }
        const bn = loneBatchNormAfter(layer);
        if (bn) {
          shiftMovingMean(bn, mean);
          report.batchNorms.push(layer.name);
        } else report.skipped.push(layer.name);
      } finally {
        mean.dispose();
      }
    });
    return report;
  } finally {
    dispose([...batches, ...sums.filter((s): s is Tensor => s !== null)]);
  }
}

/** The BatchNormalization that is the only consumer of `layer`'s output, if any. */
function loneBatchNormAfter(layer: Layer): Layer | null {
  const consumers = layer.outboundNodes.map((node) => node.outboundLayer);
  const only = consumers.length === 1 ? consumers[0] : undefined;
  return only && only.getClassName() === 'BatchNormalization' ? only : null;
}

/** `BN(y + s) = BN'(y)` with the moving mean moved by `s`: the BN absorbs a constant shift of its input. */
function shiftMovingMean(bn: Layer, shift: Tensor): void {
  const movingMean = bn.weights.find((w) => w.originalName.endsWith('/moving_mean'));
  if (!movingMean) throw new Error(`correctBias: BatchNormalization '${bn.name}' has no moving mean`);
  // The layer's input is shifted by -shift relative to the float model, so its mean moves the same way.
  tidy(() => {
    movingMean.write(sub(movingMean.read(), shift));
  });
}
