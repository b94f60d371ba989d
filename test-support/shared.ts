import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..');

/** The read-only shared material (teacher, CIFAR-10), beside the repo unless QIMERA_SHARED says otherwise. */
export const SHARED_DIR = process.env.QIMERA_SHARED ?? resolve(repoRoot, '../shared');
export const RESNET20_MODEL_JSON = join(SHARED_DIR, 'models/resnet20-cifar10/model.json');
export const CIFAR10_TEST_BATCH = join(SHARED_DIR, 'datasets/cifar-10-batches-bin/test_batch.bin');
export const CIFAR10_TRAIN_BATCH = join(SHARED_DIR, 'datasets/cifar-10-batches-bin/data_batch_1.bin');

/** Why tests that need the shared files must be skipped, or null when they are present. */
export function sharedFilesMissing(...files: string[]): string | null {
  const missing = files.filter((file) => !existsSync(file));
  return missing.length === 0 ? null : `skipped: shared files not found: ${missing.join(', ')} (set QIMERA_SHARED)`;
}
