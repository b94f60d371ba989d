import type { FunctionalJson } from '@qimera/quantizers';
import type { io } from '@tensorflow/tfjs-core';

/** `userDefinedMetadata.qimera.format` of every export. */
export const EXPORT_FORMAT = 'qimera-quantized';
/**
 * Version of the layout below; loaders refuse versions they do not know. Version 2 added
 * `contentSha256`; version 1 files (without it) still load.
 */
export const EXPORT_VERSION = 2;

/**
 * How kernels are stored. `'packed'`: k-bit integers packed into bytes, with float32
 * scales and uint8 zero points per channel (only this library reads it).
 * `'tfjs-uint8'`: tfjs's own `quantization: { dtype: 'uint8', scale, min }` entries,
 * possible when every kernel is 8-bit per-tensor; stock tfjs then decodes them.
 */
export type KernelEncoding = 'packed' | 'tfjs-uint8';

/** Activation-quantizer state, kept in model.json so stock tfjs sees only stock weights. */
export interface ExportedActivationRange {
  min: number;
  max: number;
  observedBatches: number;
}

/** What `userDefinedMetadata.qimera` of an exported model.json holds. */
export interface ExportMetadata {
  format: typeof EXPORT_FORMAT;
  version: number;
  kernelEncoding: KernelEncoding;
  /** The quantized topology (on-grid kernels, frozen quantizers) the loader builds. */
  modelTopology: FunctionalJson;
  /** Ranges of the activation quantizers, by layer name. */
  activations: Record<string, ExportedActivationRange>;
  /**
   * SHA-256 (hex) of this metadata without the field, the weights manifest and the
   * weight bytes: any change to what the loader reads is detected (version 2 on).
   */
  contentSha256: string;
}

/** The manifest `quantization` of a packed kernel (not a tfjs dtype: stock tfjs refuses it). */
export interface PackedQuantization {
  dtype: 'qimera-packed';
  /** Bits per value. */
  bits: number;
  /** Stored values are `q - offset` (the grid's qmin), so they are unsigned. */
  offset: number;
}

/** A weights-manifest entry this library writes. */
export type ExportEntry =
  | io.WeightsManifestEntry
  | (Omit<io.WeightsManifestEntry, 'quantization'> & { quantization: PackedQuantization });

/** Manifest names of a kernel's grid parameters, as the on-grid layer names its weights. */
export const gridWeightNames = (layerName: string) => ({
  scale: `${layerName}/kernel_scale`,
  zeroPoint: `${layerName}/kernel_zero_point`,
});
