import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type CheckpointOptions,
  type CheckpointTensor,
  checkCheckpoint,
  type DistillCheckpoint,
  type OptimizerState,
} from '@qimera/distill';
import { checkSaveFolder, ModelFileError, readFileOrThrow, writeFolder } from '@qimera/node-io';

const STATE_FILE = 'checkpoint.json';
const TENSORS_FILE = 'tensors.bin';

/** A tensor as checkpoint.json lists it: where its values are in tensors.bin. */
interface StoredTensor extends Omit<CheckpointTensor, 'values'> {
  offset: number;
  length: number;
}

/** A checkpoint's layout with tensors of type `T` (values in memory, or places in tensors.bin). */
type Layout<T> = Omit<DistillCheckpoint, 'models' | 'optimizers'> & {
  models: Record<keyof DistillCheckpoint['models'], T[]>;
  optimizers: Record<keyof DistillCheckpoint['optimizers'], Omit<OptimizerState, 'weights'> & { weights: T[] }>;
};

/**
 * Checkpoints in a folder for `quantizeDataFree` / `distill`'s `checkpoint` option:
 * each save replaces the folder's `checkpoint.json` and `tensors.bin` as a whole (see
 * {@link saveCheckpoint}); {@link loadCheckpoint} reads them back for `resumeFrom`.
 * Give `everyIterations` and / or `everyMinutes`; without either it saves when the run
 * ends only.
 */
export function checkpointFolder(
  dir: string,
  every: Pick<CheckpointOptions, 'everyIterations' | 'everyMinutes'> = {},
): CheckpointOptions {
  return { ...every, save: (checkpoint) => saveCheckpoint(dir, checkpoint) };
}

/**
 * Writes a checkpoint to the folder `dir` atomically (the previous checkpoint stays
 * whole until the new one is in place): `checkpoint.json` with the state and the
 * SHA-256 of `tensors.bin`, which holds every tensor's values.
 * @throws ModelFileError when `dir` holds other files than a checkpoint's.
 */
export async function saveCheckpoint(dir: string, checkpoint: DistillCheckpoint): Promise<void> {
  const folder = resolve(dir);
  // writeFolder runs checkSaveFolder itself.
  await refuseForeignFiles(folder);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const state = mapTensors(checkpoint, (tensor): StoredTensor => {
    const bytes = new Uint8Array(tensor.values.buffer, tensor.values.byteOffset, tensor.values.byteLength);
    chunks.push(bytes);
    const stored = {
      name: tensor.name,
      shape: tensor.shape,
      dtype: tensor.dtype,
      offset,
      length: tensor.values.length,
    };
    offset += bytes.byteLength;
    return stored;
  });
  const tensors = Buffer.concat(chunks);
  const json = JSON.stringify({ ...state, tensorsSha256: sha256(tensors) });
  await writeFolder(folder, { [TENSORS_FILE]: tensors, [STATE_FILE]: json }, { overwrite: true });
}

/**
 * Refuses, before any work, a checkpoint folder that holds other files than a
 * checkpoint's (saves replace the folder) or that cannot be created or written.
 * @throws ModelFileError naming the folder and the problem.
 */
export async function checkCheckpointFolder(dir: string): Promise<void> {
  const folder = resolve(dir);
  await refuseForeignFiles(folder);
  await checkSaveFolder(folder, { overwrite: true });
}

/** Saves replace the whole folder: it may hold a checkpoint's files and nothing else. */
async function refuseForeignFiles(folder: string): Promise<void> {
  const held = await readdir(folder).catch(() => [] as string[]);
  const foreign = held.filter((name) => name !== STATE_FILE && name !== TENSORS_FILE);
  if (foreign.length > 0) {
    throw new ModelFileError(folder, `holds other files than a checkpoint (${foreign.join(', ')}): use an own folder`);
  }
}

/**
 * Reads a checkpoint {@link saveCheckpoint} wrote, for `resumeFrom`.
 * @throws ModelFileError naming the file when a file is missing, checkpoint.json is not
 *   a checkpoint, or tensors.bin does not match the SHA-256 recorded with it.
 */
export async function loadCheckpoint(dir: string): Promise<DistillCheckpoint> {
  const folder = resolve(dir);
  const stateFile = join(folder, STATE_FILE);
  const tensorsFile = join(folder, TENSORS_FILE);
  const [text, tensors] = await Promise.all([
    readFileOrThrow(stateFile, 'checkpoint file'),
    readFileOrThrow(tensorsFile, 'checkpoint file'),
  ]);
  let state: Layout<StoredTensor> & { tensorsSha256?: string };
  try {
    state = JSON.parse(text.toString('utf8'));
  } catch (error) {
    throw new ModelFileError(stateFile, `not valid JSON (${(error as Error).message})`);
  }
  if (state?.tensorsSha256 !== sha256(tensors)) {
    throw new ModelFileError(tensorsFile, `does not match the SHA-256 recorded in ${STATE_FILE}: damaged or replaced`);
  }
  const { tensorsSha256: _hash, ...stored } = state;
  // Copied out of the file's buffer so each array is aligned for its type.
  try {
    const checkpoint = mapTensors(stored, (entry): CheckpointTensor => {
      const bytes = tensors.subarray(entry.offset, entry.offset + 4 * entry.length);
      if (bytes.byteLength !== 4 * entry.length) throw new Error(`tensor '${entry.name}' lies outside ${TENSORS_FILE}`);
      const values = new (entry.dtype === 'int32' ? Int32Array : Float32Array)(Uint8Array.from(bytes).buffer);
      return { name: entry.name, shape: entry.shape, dtype: entry.dtype, values };
    });
    checkCheckpoint(checkpoint);
    return checkpoint;
  } catch (error) {
    const problem = (error as Error).message.replace('distill: resumeFrom', 'it');
    throw new ModelFileError(stateFile, `not a checkpoint this version reads: ${problem}`);
  }
}

/** The checkpoint with every tensor mapped; other fields as they are. */
function mapTensors<From, To>(checkpoint: Layout<From>, map: (tensor: From) => To): Layout<To> {
  const { models, optimizers } = checkpoint;
  const optimizer = (state: Layout<From>['optimizers']['student']) => ({ ...state, weights: state.weights.map(map) });
  return {
    ...checkpoint,
    models: {
      student: models.student.map(map),
      generator: models.generator.map(map),
      mapping: models.mapping.map(map),
      embedding: models.embedding.map(map),
    },
    optimizers: { generator: optimizer(optimizers.generator), student: optimizer(optimizers.student) },
  };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
