import {
  ActivationQuantizer,
  describeNonFinite,
  type FunctionalJson,
  floatTopology,
  functionalTopology,
  integerRange,
  nonFiniteWeights,
  QUANTIZED_CLASSES,
  QuantizedWeightLayer,
  quantize,
} from '@qimera/quantizers';
import { dispose, type io, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { packBits } from './bit_packing.js';
import { contentHash } from './content_hash.js';
import { ExportError } from './errors.js';
import {
  EXPORT_FORMAT,
  EXPORT_VERSION,
  type ExportEntry,
  type ExportedActivationRange,
  type ExportMetadata,
  gridWeightNames,
  type KernelEncoding,
} from './format.js';
import { describeTarget, saveHandlerFor } from './targets.js';

/** Options of {@link exportQuantized}. */
export interface ExportOptions {
  /**
   * `'auto'` (default): `'tfjs-uint8'` when every kernel is 8-bit per-tensor, else
   * `'packed'`. Asking for `'tfjs-uint8'` when that does not hold is an error.
   */
  kernelEncoding?: 'auto' | KernelEncoding;
  /**
   * A folder target that already holds files is replaced (Node). Default false: such a
   * folder is refused before anything is written.
   */
  overwrite?: boolean;
}

/** Sizes and contents of an export. */
export interface ExportReport {
  kernelEncoding: KernelEncoding;
  /** Bytes of the weights data written. */
  weightBytes: number;
  /** Bytes the same weights take in float32, as a plain tfjs save of the float model. */
  floatWeightBytes: number;
  /** `weightBytes / floatWeightBytes`. */
  ratio: number;
  /** Quantized Conv2D / DepthwiseConv2D / Dense layers. */
  quantizedLayers: number;
  /** BatchNormalization layers left in the model (0 when folded). */
  batchNormLayers: number;
}

/**
 * Writes a fake-quantized model (from `quantizeModel` / `quantizeDataFree`, or one
 * loaded with {@link loadQuantizedModel}) as a deployable artifact: model.json plus one
 * weights file holding each kernel as k-bit integers (2 to 8 bits) with its scale and
 * zero point per channel, biases and BatchNorm parameters in float32, and the
 * activation ranges. {@link loadQuantizedModel} rebuilds a model whose predictions
 * equal this one's bit for bit on the same backend.
 *
 * model.json's `modelTopology` is the stock tfjs view of the model (stock layer classes,
 * no activation quantizers); the quantized topology lives in
 * `userDefinedMetadata.qimera`. When every kernel is 8-bit per-tensor, kernels use
 * tfjs's own uint8 quantization entries, so stock `tf.loadLayersModel` loads the file
 * too (with float activations); packed files need {@link loadQuantizedModel}.
 *
 * The metadata carries a SHA-256 of everything the loader reads, so files changed
 * after export (a flipped byte included) are refused on load.
 *
 * @param target a folder (Node), a tfjs URL ('indexeddb://...', 'downloads://...') or
 *   an IO handler. Folders are written atomically (see `@qimera/node-io`'s
 *   `dirSaveHandler`) and an existing folder with files is replaced only with
 *   `overwrite`.
 * @throws ExportError listing every problem (non-finite weights, weights above 8 bits,
 *   uncalibrated activation quantizers, a model without quantized layers) before
 *   anything is written.
 */
export async function exportQuantized(
  model: LayersModel,
  target: string | io.IOHandler,
  options: ExportOptions = {},
): Promise<ExportReport> {
  const { artifacts, report } = await quantizedArtifacts(model, options);
  const handler = await saveHandlerFor(target, { overwrite: options.overwrite ?? false });
  if (!handler.save) throw new ExportError([`${describeTarget(target)} cannot save (its handler has no save method)`]);
  await handler.save(artifacts);
  return report;
}

/** The artifacts {@link exportQuantized} writes, for callers that store them themselves. */
export async function quantizedArtifacts(
  model: LayersModel,
  options: ExportOptions = {},
): Promise<{ artifacts: io.ModelArtifacts; report: ExportReport }> {
  const broken = nonFiniteWeights(model);
  if (broken.length > 0) {
    throw new ExportError(broken.map((found) => `${describeNonFinite(found)} (weights must be finite)`));
  }
  const weightLayers = model.layers.filter((l): l is QuantizedWeightLayer => l instanceof QuantizedWeightLayer);
  const encoding = chooseEncoding(model, weightLayers, options.kernelEncoding ?? 'auto');

  const entries: ExportEntry[] = [];
  const chunks: Uint8Array[] = [];
  const activations: Record<string, ExportedActivationRange> = {};
  let floatWeightBytes = 0;
  const addFloat = (name: string, shape: number[], values: Float32Array) => {
    entries.push({ name, shape, dtype: 'float32' });
    chunks.push(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    floatWeightBytes += values.byteLength;
  };

  for (const layer of model.layers) {
    if (layer instanceof ActivationQuantizer) {
      activations[layer.name] = layer.rangeState();
      continue;
    }
    const kernel = layer instanceof QuantizedWeightLayer ? layer.kernelWeight : null;
    if (layer instanceof QuantizedWeightLayer && kernel) {
      const { entry, bytes, grid } = await encodeKernel(layer, encoding);
      entries.push(entry);
      chunks.push(bytes);
      floatWeightBytes += 4 * kernel.shape.reduce((n: number, d) => n * (d as number), 1);
      if (grid) {
        const names = gridWeightNames(layer.name);
        entries.push({ name: names.scale, shape: [grid.scale.length], dtype: 'float32' });
        chunks.push(new Uint8Array(grid.scale.buffer));
        entries.push({
          name: names.zeroPoint,
          shape: [grid.zeroPoint.length],
          dtype: 'int32',
          quantization: { dtype: 'uint8', scale: 1, min: 0 },
        });
        chunks.push(Uint8Array.from(grid.zeroPoint));
      }
    }
    const gridNames = Object.values(gridWeightNames(layer.name));
    for (const weight of layer.weights) {
      if (weight === kernel || gridNames.includes(weight.originalName)) continue;
      const values = (await weight.read().data()) as Float32Array;
      addFloat(weight.originalName, weight.shape as number[], values);
    }
  }

  const weightData = concat(chunks);
  const topology = functionalTopology(model);
  const described = {
    format: EXPORT_FORMAT,
    version: EXPORT_VERSION,
    kernelEncoding: encoding,
    modelTopology: loadableTopology(topology),
    activations,
  } as const;
  const specs = entries as io.WeightsManifestEntry[];
  const metadata: ExportMetadata = { ...described, contentSha256: contentHash(described, specs, weightData) };
  const artifacts: io.ModelArtifacts = {
    modelTopology: floatTopology(topology) as never,
    format: 'layers-model',
    generatedBy: 'qimera export',
    convertedBy: null,
    weightSpecs: specs,
    weightData: weightData.buffer as ArrayBuffer,
    userDefinedMetadata: { qimera: metadata as never },
  };
  return {
    artifacts,
    report: {
      kernelEncoding: encoding,
      weightBytes: weightData.byteLength,
      floatWeightBytes,
      ratio: weightData.byteLength / floatWeightBytes,
      quantizedLayers: weightLayers.length,
      batchNormLayers: model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length,
    },
  };
}

function chooseEncoding(
  model: LayersModel,
  weightLayers: QuantizedWeightLayer[],
  asked: 'auto' | KernelEncoding,
): KernelEncoding {
  const problems: string[] = [];
  if (weightLayers.length === 0) {
    problems.push(
      `model '${model.name}' has no quantized layer: quantize it first (quantizeModel or quantizeDataFree)`,
    );
  }
  for (const layer of weightLayers) {
    if (layer.weightSpec.bits > 8) {
      problems.push(`layer '${layer.name}' has ${layer.weightSpec.bits}-bit weights; exports pack 2 to 8 bits`);
    }
  }
  for (const layer of model.layers) {
    if (layer instanceof ActivationQuantizer && layer.rangeState().observedBatches === 0) {
      problems.push(`activation quantizer '${layer.name}' was never calibrated, so it has no range to export`);
    }
  }
  if (!['auto', 'packed', 'tfjs-uint8'].includes(asked)) {
    problems.push(`kernelEncoding must be 'auto', 'packed' or 'tfjs-uint8', got ${JSON.stringify(asked)}`);
  }
  const stockable = weightLayers.every((l) => l.weightSpec.bits === 8 && !l.perChannel);
  if (asked === 'tfjs-uint8' && !stockable) {
    const offenders = weightLayers.filter((l) => l.weightSpec.bits !== 8 || l.perChannel).map((l) => l.name);
    problems.push(`kernelEncoding 'tfjs-uint8' needs 8-bit per-tensor kernels; not so in: ${offenders.join(', ')}`);
  }
  if (problems.length > 0) throw new ExportError(problems);
  if (asked === 'auto') return stockable ? 'tfjs-uint8' : 'packed';
  return asked;
}

/** A kernel's manifest entry and bytes, plus its grid parameters when they go in the weights. */
async function encodeKernel(
  layer: QuantizedWeightLayer,
  encoding: KernelEncoding,
): Promise<{ entry: ExportEntry; bytes: Uint8Array; grid: { scale: Float32Array; zeroPoint: Int32Array } | null }> {
  const kernel = layer.kernelWeight;
  const params = layer.kernelQuantParams();
  const q = tidy(() => quantize(kernel.read(), params, layer.weightSpec));
  const [values, scale, zeroPoint] = await Promise.all([q.data(), params.scale.data(), params.zeroPoint.data()]);
  dispose([q, params.scale, params.zeroPoint]);
  const { qmin } = integerRange(layer.weightSpec);
  const unsigned = Int32Array.from(values as Int32Array, (v) => v - qmin);
  const shape = kernel.shape as number[];
  if (encoding === 'tfjs-uint8') {
    const s = scale[0] as number;
    // tfjs decodes u * scale + min in double precision: with min = (qmin - zp) * scale
    // that is exactly (q - zp) * scale, the fake-quantized value.
    const min = (qmin - (zeroPoint[0] as number)) * s;
    return {
      entry: { name: kernel.originalName, shape, dtype: 'float32', quantization: { dtype: 'uint8', scale: s, min } },
      bytes: Uint8Array.from(unsigned),
      grid: null,
    };
  }
  const bits = layer.weightSpec.bits;
  return {
    entry: {
      name: kernel.originalName,
      shape,
      dtype: 'float32',
      quantization: { dtype: 'qimera-packed', bits, offset: qmin },
    },
    bytes: packBits(unsigned, bits),
    grid: { scale: Float32Array.from(scale as Float32Array), zeroPoint: Int32Array.from(zeroPoint as Float32Array) },
  };
}

/** The quantized topology as the loader builds it: on-grid kernels, frozen quantizers. */
function loadableTopology(topology: FunctionalJson): FunctionalJson {
  const layers = topology.config.layers.map((layer) => {
    if (layer.class_name === 'ActivationQuantizer') return { ...layer, config: { ...layer.config, frozen: true } };
    if (!QUANTIZED_CLASSES.has(layer.class_name)) return layer;
    return { ...layer, config: { ...layer.config, kernel_on_grid: true, trainable: false } };
  });
  return { ...topology, config: { ...topology.config, layers } };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}
