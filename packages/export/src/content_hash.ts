import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex, utf8ToBytes } from '@noble/hashes/utils.js';
import type { io } from '@tensorflow/tfjs-core';
import type { ExportMetadata } from './format.js';

/**
 * SHA-256 (hex) of everything {@link loadQuantizedModel} reads: the export metadata
 * without its hash (quantized topology, encoding, activation ranges), the weights
 * manifest and the weight bytes. JSON parsed from model.json stringifies back to the
 * same text (key order and numbers survive), so writer and loader hash equal input.
 */
export function contentHash(
  metadata: Omit<ExportMetadata, 'contentSha256'>,
  weightSpecs: io.WeightsManifestEntry[],
  weightData: Uint8Array,
): string {
  const { contentSha256: _ignored, ...described } = metadata as ExportMetadata;
  const hash = sha256.create();
  hash.update(utf8ToBytes(JSON.stringify([described, weightSpecs])));
  hash.update(weightData);
  return bytesToHex(hash.digest());
}
