import { concat, dispose, type Tensor, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { meanFidelity } from '../math/fidelity.js';
import { splitIntoBatches } from './batches.js';
import { activationQuantizers, calibrateActivationRanges } from './calibration.js';
import { endsInRelu, QUANTIZED_TWINS } from './layer_kinds.js';
import type { LayerQuantOverride, QuantizeModelConfig } from './quantize_config.js';
import { quantizeModel } from './quantize_model.js';
import { functionalTopology } from './topology_json.js';

// The widest quantizer: stands in for float where a layer's kernel and fused ReLU cannot be split.
const NEAR_FLOAT_BITS = 16;

/** How much quantizing one kernel or one activation alone changes a model's outputs. */
export interface QuantizerSensitivity {
  /** The layer whose kernel, or whose ReLU output, was quantized. */
  layer: string;
  kind: 'kernel' | 'activation';
  /** The bits it was quantized to. */
  bits: number;
  /** Mean KL divergence of the quantized model's softmax from the float model's, in nats. */
  kl: number;
  /** Share of the images on which both models' top class is the same. */
  agreement: number;
}

/** Options of {@link quantizerSensitivity}. */
export interface SensitivityOptions {
  /** Images per forward pass (and per calibration batch). Default 32. */
  batchSize?: number;
  /** Called after each quantizer is measured, with how many there are. */
  onMeasured?: (measured: QuantizerSensitivity, index: number, total: number) => void;
  /** Stops between quantizers; what was measured so far is returned. */
  signal?: AbortSignal;
}

/**
 * Each quantizer of `quantizeModel(model, config)` measured alone, as ZeroQ's
 * sensitivity metric: for every kernel and every activation quantizer, the model with
 * only that one quantized (activation ranges calibrated on `images` with the config's
 * observer) is compared with the float model on `images`. Where a layer's kernel and its
 * fused ReLU are one layer, the part not measured is held at 16 bits. The highest KL
 * marks the layers worth keeping wider (`QuantizeModelConfig.layers`). `model` must output
 * logits (see `logitsView` in `qimera` for a model ending in a softmax); images are
 * typically synthesized (`synthesizeImages`), so no data is needed.
 * `config.firstLastBits` and `config.inputBits` are not applied: every layer is
 * measured at the width it would get from `weightBits` / `activationBits` or its entry
 * in `config.layers`; layers that entry skips are not measured.
 *
 * @returns one entry per quantizer, in layer order (kernel before activation).
 */
export async function quantizerSensitivity(
  model: LayersModel,
  config: QuantizeModelConfig,
  images: Tensor,
  options: SensitivityOptions = {},
): Promise<QuantizerSensitivity[]> {
  const batchSize = options.batchSize ?? 32;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) {
    throw new RangeError(`quantizerSensitivity: batchSize must be a positive integer, got ${String(batchSize)}`);
  }
  const given = config.layers ?? {};
  const quantizable = functionalTopology(model).config.layers.filter(
    (layer) =>
      (layer.class_name in QUANTIZED_TWINS || endsInRelu(layer.class_name, layer.config)) && !given[layer.name]?.skip,
  );
  const candidates = quantizable.flatMap((layer) => {
    const hasKernel = layer.class_name in QUANTIZED_TWINS;
    const hasRelu = endsInRelu(layer.class_name, layer.config);
    const override = given[layer.name] ?? {};
    return [
      ...(hasKernel
        ? [
            {
              layer: layer.name,
              kind: 'kernel' as const,
              bits: override.weightBits ?? config.weightBits,
              other: hasRelu,
            },
          ]
        : []),
      ...(hasRelu
        ? [
            {
              layer: layer.name,
              kind: 'activation' as const,
              bits: override.activationBits ?? config.activationBits,
              other: hasKernel,
            },
          ]
        : []),
    ];
  });
  const batches = splitIntoBatches(images, batchSize);
  const outputs = (net: LayersModel) => tidy(() => concat(batches.map((batch) => net.predict(batch) as Tensor)));
  const reference = outputs(model);
  const measured: QuantizerSensitivity[] = [];
  try {
    for (const [index, candidate] of candidates.entries()) {
      if (options.signal?.aborted) break;
      const layers: Record<string, LayerQuantOverride> = Object.fromEntries(
        quantizable.map((layer) => [layer.name, { skip: true }]),
      );
      layers[candidate.layer] =
        candidate.kind === 'kernel'
          ? { weightBits: candidate.bits, ...(candidate.other ? { activationBits: NEAR_FLOAT_BITS } : {}) }
          : { activationBits: candidate.bits, ...(candidate.other ? { weightBits: NEAR_FLOAT_BITS } : {}) };
      const student = await quantizeModel(model, { ...config, firstLastBits: undefined, inputBits: undefined, layers });
      try {
        if (activationQuantizers(student).length > 0) await calibrateActivationRanges(student, batches);
        const quantized = outputs(student);
        let scores: { agreement: number; kl: number };
        try {
          scores = meanFidelity(quantized, reference);
        } finally {
          quantized.dispose();
        }
        const entry = { layer: candidate.layer, kind: candidate.kind, bits: candidate.bits, ...scores };
        measured.push(entry);
        options.onMeasured?.(entry, index, candidates.length);
      } finally {
        student.dispose();
      }
    }
    return measured;
  } finally {
    dispose([reference, ...batches]);
  }
}
