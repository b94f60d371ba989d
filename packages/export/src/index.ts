/**
 * Deployable low-bit artifacts: {@link exportQuantized} writes a fake-quantized model
 * with packed k-bit kernels (tfjs-native uint8 entries when every kernel is 8-bit
 * per-tensor) and {@link loadQuantizedModel} rebuilds the exact model.
 * @packageDocumentation
 */
export { packBits, packedBytes, unpackBits } from './bit_packing.js';
export { contentHash } from './content_hash.js';
export { ArtifactError, ExportError } from './errors.js';
export { type ExportOptions, type ExportReport, exportQuantized, quantizedArtifacts } from './export.js';
export {
  EXPORT_FORMAT,
  EXPORT_VERSION,
  type ExportEntry,
  type ExportedActivationRange,
  type ExportMetadata,
  type KernelEncoding,
  type PackedQuantization,
} from './format.js';
export { loadQuantizedModel, readMetadata } from './load.js';
