import {
  ActivationQuantizer,
  dequantize,
  describeNonFinite,
  integerRange,
  nonFiniteWeights,
  QuantizedWeightLayer,
} from '@qimera/quantizers';
import { dispose, io, ready, scalar, type Tensor, tensor, tensor1d, tidy } from '@tensorflow/tfjs-core';
import { type LayersModel, models } from '@tensorflow/tfjs-layers';
import { packedBytes, unpackBits } from './bit_packing.js';
import { contentHash } from './content_hash.js';
import { ArtifactError } from './errors.js';
import { EXPORT_FORMAT, EXPORT_VERSION, type ExportEntry, type ExportMetadata, gridWeightNames } from './format.js';
import { describeTarget, loadHandlerFor } from './targets.js';

/** A manifest entry's raw values: floats, or the stored unsigned integers of a quantized entry. */
interface Decoded {
  entry: ExportEntry;
  values: Float32Array | Int32Array;
}

/**
 * Loads a model written by {@link exportQuantized} and rebuilds the fake-quantized
 * LayersModel: kernels on their k-bit grids (layers with `kernelOnGrid`), frozen
 * activation quantizers with the exported ranges. Its predictions equal those of the
 * exported model bit for bit on the same backend. Not trainable: it is an inference
 * artifact.
 *
 * @param source a model.json path (Node), a tfjs URL, or an IO handler.
 * @throws ArtifactError naming the source when it is not a qimera export (plain tfjs
 *   models load with `tf.loadLayersModel`), was written by a newer version, its content
 *   does not match the SHA-256 written at export (a file edited or damaged since), or its
 *   weights are missing, truncated or do not fit the topology: a kernel stored with
 *   other bits than its layer declares, a scale that is not finite and positive, a zero
 *   point off the integer grid, an activation range that is not finite or inverted, a
 *   non-finite float weight. Each error names the weight or layer and the field.
 */
export async function loadQuantizedModel(source: string | io.IOHandler): Promise<LayersModel> {
  const where = describeTarget(source);
  const handler = await loadHandlerFor(source);
  if (!handler.load) throw new ArtifactError(where, 'its handler cannot load (no load method)');
  const artifacts = await handler.load();
  const metadata = readMetadata(artifacts, where);
  const data = new Uint8Array(io.CompositeArrayBuffer.join(artifacts.weightData ?? []));
  checkContentHash(metadata, artifacts.weightSpecs ?? [], data, where);
  const decoded = decodeWeights(artifacts.weightSpecs ?? [], data, where);
  await ready();
  const model = await models.modelFromJSON({ modelTopology: metadata.modelTopology as never });
  try {
    for (const layer of model.layers) {
      if (layer.weights.length === 0) continue;
      const values = layerWeights(layer, decoded, metadata, where);
      try {
        layer.setWeights(values);
      } finally {
        dispose(values);
      }
    }
    const broken = nonFiniteWeights(model);
    if (broken.length > 0) {
      throw new ArtifactError(where, `non-finite weights: ${broken.map(describeNonFinite).join('; ')}`);
    }
  } catch (error) {
    model.dispose();
    throw error instanceof ArtifactError ? error : new ArtifactError(where, (error as Error).message);
  }
  return model;
}

/** The export metadata of loaded artifacts, checked. */
export function readMetadata(artifacts: io.ModelArtifacts, where: string): ExportMetadata {
  const metadata = (artifacts.userDefinedMetadata as { qimera?: Partial<ExportMetadata> } | undefined)?.qimera;
  if (!metadata || metadata.format !== EXPORT_FORMAT) {
    throw new ArtifactError(
      where,
      'is not a qimera quantized export (no userDefinedMetadata.qimera): load plain tfjs models with tf.loadLayersModel or loadLayersModelFromFile',
    );
  }
  if (!READABLE_VERSIONS.includes(metadata.version as number)) {
    throw new ArtifactError(
      where,
      `was exported in format version ${JSON.stringify(metadata.version)}; this loader reads versions ${READABLE_VERSIONS.join(' and ')}`,
    );
  }
  if (!metadata.modelTopology || typeof metadata.activations !== 'object') {
    throw new ArtifactError(where, 'userDefinedMetadata.qimera lacks modelTopology or activations');
  }
  return metadata as ExportMetadata;
}

/** Version 1 predates the content hash. */
const READABLE_VERSIONS = [1, EXPORT_VERSION];

/** From version 2 on, what the loader reads must hash to the value written at export. */
function checkContentHash(
  metadata: ExportMetadata,
  weightSpecs: io.WeightsManifestEntry[],
  data: Uint8Array,
  where: string,
): void {
  if (metadata.version === 1) return;
  const expected = metadata.contentSha256;
  if (typeof expected !== 'string') {
    throw new ArtifactError(where, 'userDefinedMetadata.qimera.contentSha256 is missing: the file was edited');
  }
  const actual = contentHash(metadata, weightSpecs, data);
  if (actual !== expected) {
    throw new ArtifactError(
      where,
      `content does not match userDefinedMetadata.qimera.contentSha256 (expected ${expected}, got ${actual}): ` +
        'the weights file or the quantized metadata changed after export; export the model again',
    );
  }
}

function decodeWeights(weightSpecs: io.WeightsManifestEntry[], data: Uint8Array, where: string): Map<string, Decoded> {
  const entries = weightSpecs as ExportEntry[];
  const decoded = new Map<string, Decoded>();
  let offset = 0;
  for (const entry of entries) {
    const count = entry.shape.reduce((n, d) => n * d, 1);
    const quantization = entry.quantization as { dtype: string; bits?: number } | undefined;
    const bytes =
      quantization?.dtype === 'qimera-packed'
        ? packedBytes(count, quantization.bits ?? 0)
        : quantization?.dtype === 'uint8'
          ? count
          : quantization
            ? null
            : entry.dtype === 'float32' || entry.dtype === 'int32'
              ? 4 * count
              : null;
    if (bytes === null) {
      throw new ArtifactError(
        where,
        `weight '${entry.name}': unsupported encoding ${JSON.stringify(quantization?.dtype ?? entry.dtype)}`,
      );
    }
    if (offset + bytes > data.byteLength) {
      throw new ArtifactError(
        where,
        `weights data is truncated: '${entry.name}' needs bytes ${offset} to ${offset + bytes}, the data has ${data.byteLength}`,
      );
    }
    const raw = data.slice(offset, offset + bytes);
    offset += bytes;
    const values =
      quantization?.dtype === 'qimera-packed'
        ? unpackBits(raw, quantization.bits as number, count)
        : quantization
          ? Int32Array.from(raw)
          : entry.dtype === 'int32'
            ? new Int32Array(raw.buffer)
            : new Float32Array(raw.buffer);
    decoded.set(entry.name, { entry, values });
  }
  if (offset !== data.byteLength) {
    throw new ArtifactError(where, `weights data holds ${data.byteLength} bytes, the manifest describes ${offset}`);
  }
  return decoded;
}

/** One layer's weights, in its own order, from the decoded data and the metadata. */
function layerWeights(
  layer: LayersModel['layers'][number],
  decoded: Map<string, Decoded>,
  metadata: ExportMetadata,
  where: string,
): Tensor[] {
  if (layer instanceof ActivationQuantizer) {
    const range = metadata.activations[layer.name];
    if (!range) throw new ArtifactError(where, `no range for activation quantizer '${layer.name}'`);
    const { min, max, observedBatches } = range;
    if (!(isFiniteNumber(min) && isFiniteNumber(max) && min <= max)) {
      throw new ArtifactError(
        where,
        `activation range of '${layer.name}' must be finite numbers with min <= max, got ${JSON.stringify([min, max])}`,
      );
    }
    if (!(isFiniteNumber(observedBatches) && observedBatches >= 1)) {
      throw new ArtifactError(
        where,
        `activation range of '${layer.name}': observedBatches must be a number >= 1, got ${JSON.stringify(observedBatches)}`,
      );
    }
    return [tensor1d([min, max]), scalar(observedBatches)];
  }
  const grid = layer instanceof QuantizedWeightLayer ? gridKernel(layer, decoded, where) : null;
  const gridNames = gridWeightNames(layer.name);
  return layer.weights.map((weight) => {
    if (grid && weight === (layer as QuantizedWeightLayer).kernelWeight) return grid.kernel;
    if (grid && weight.originalName === gridNames.scale) return grid.scale;
    if (grid && weight.originalName === gridNames.zeroPoint) return grid.zeroPoint;
    const found = decoded.get(weight.originalName);
    if (!found) throw new ArtifactError(where, `the weights lack '${weight.originalName}'`);
    const values = found.entry.quantization ? dequantizeStock(found) : found.values;
    return tensor(values, weight.shape as number[], 'float32');
  });
}

/** A kernel back on its grid: `(q - zeroPoint) * scale`, as the exporting model computed it. */
function gridKernel(
  layer: QuantizedWeightLayer,
  decoded: Map<string, Decoded>,
  where: string,
): { kernel: Tensor; scale: Tensor; zeroPoint: Tensor } {
  const kernelName = layer.kernelWeight.originalName;
  const found = decoded.get(kernelName);
  if (!found) throw new ArtifactError(where, `the weights lack kernel '${kernelName}'`);
  const quantization = found.entry.quantization as { dtype: string; scale?: number; min?: number; offset?: number };
  const paramShape = layer.weights.find((w) => w.originalName === gridWeightNames(layer.name).scale)?.shape as number[];
  let scale: ArrayLike<number>;
  let zeroPoint: ArrayLike<number>;
  let offset: number;
  if (quantization?.dtype === 'uint8') {
    // tfjs-native entry: value = u * scale + min, with min = (qmin - zeroPoint) * scale.
    offset = integerRange(layer.weightSpec).qmin;
    const s = quantization.scale as number;
    scale = [s];
    zeroPoint = [Math.round(offset - (quantization.min as number) / s)];
  } else if (quantization?.dtype === 'qimera-packed') {
    const names = gridWeightNames(layer.name);
    const s = decoded.get(names.scale);
    const z = decoded.get(names.zeroPoint);
    if (!s || !z)
      throw new ArtifactError(
        where,
        `the weights lack the grid of '${kernelName}' (${names.scale}, ${names.zeroPoint})`,
      );
    scale = s.values;
    zeroPoint = z.values;
    offset = quantization.offset as number;
  } else {
    throw new ArtifactError(where, `kernel '${kernelName}' is stored in float, not on a grid`);
  }
  const channels = paramShape.reduce((n, d) => n * d, 1);
  if (scale.length !== channels || zeroPoint.length !== channels) {
    throw new ArtifactError(where, `kernel '${kernelName}' has ${scale.length} scales for ${channels} channels`);
  }
  checkGrid(layer, kernelName, quantization, scale, zeroPoint, where);
  return tidy(() => {
    const params = {
      scale: tensor(Float32Array.from(scale), paramShape, 'float32'),
      zeroPoint: tensor(Float32Array.from(zeroPoint), paramShape, 'float32'),
    };
    const q = tensor(
      Int32Array.from(found.values, (u) => u + offset),
      layer.kernelWeight.shape as number[],
      'int32',
    );
    return { kernel: dequantize(q, params), ...params };
  });
}

/**
 * The grid a kernel is stored on must be the one its layer's topology declares: the
 * same bit width (and so integer offset), finite positive scales, integral zero points
 * inside the integer range.
 */
function checkGrid(
  layer: QuantizedWeightLayer,
  kernelName: string,
  quantization: { dtype: string; bits?: unknown; offset?: unknown },
  scale: ArrayLike<number>,
  zeroPoint: ArrayLike<number>,
  where: string,
): void {
  const { bits } = layer.weightSpec;
  const { qmin, qmax } = integerRange(layer.weightSpec);
  const stored = quantization.dtype === 'uint8' ? 8 : quantization.bits;
  if (stored !== bits) {
    throw new ArtifactError(
      where,
      `kernel '${kernelName}' is stored with ${JSON.stringify(stored)} bits, but layer '${layer.name}' declares weight_bits ${bits}`,
    );
  }
  if (quantization.dtype === 'qimera-packed' && quantization.offset !== qmin) {
    throw new ArtifactError(
      where,
      `kernel '${kernelName}': offset must be ${qmin} for ${bits}-bit ${layer.weightSpec.scheme} weights, got ${JSON.stringify(quantization.offset)}`,
    );
  }
  for (let i = 0; i < scale.length; i++) {
    const value = scale[i] as number;
    if (!(Number.isFinite(value) && value > 0)) {
      throw new ArtifactError(where, `kernel '${kernelName}': scale ${i} must be finite and > 0, got ${value}`);
    }
    const zero = zeroPoint[i] as number;
    if (!(Number.isInteger(zero) && zero >= qmin && zero <= qmax)) {
      throw new ArtifactError(
        where,
        `kernel '${kernelName}': zero point ${i} must be an integer from ${qmin} to ${qmax}, got ${zero}`,
      );
    }
  }
}

function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

/** tfjs's own decoding of a uint8 entry: `u * scale + min`. */
function dequantizeStock(found: Decoded): Float32Array {
  const { scale, min } = found.entry.quantization as { scale: number; min: number };
  return Float32Array.from(found.values, (u) => u * scale + min);
}
