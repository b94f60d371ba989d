import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { io } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { ModelFileError } from './errors.js';

/** Where {@link saveLayersModelToDir} wrote the model. */
export interface SavedModelFiles {
  modelJsonPath: string;
  weightsPath: string;
  weightBytes: number;
}

/** Options of {@link saveLayersModelToDir}. */
export interface SaveOptions {
  /** Name of the single weights shard. Default 'weights.bin'. */
  weightsFileName?: string;
  /**
   * Replace a folder that already holds files, and remove what interrupted saves to the
   * same folder left behind. Default false: such a folder is refused, so a save never
   * deletes anything unasked.
   */
  overwrite?: boolean;
}

/**
 * Writes `model.json` and one weights shard into the folder `dir`, in the standard tfjs
 * format that {@link loadLayersModelFromFile} and `tf.loadLayersModel` read. The files
 * are written into a hidden sibling folder that is renamed into place, so `dir` either
 * holds a complete model or does not exist, even when the process is killed (see
 * {@link checkSaveFolder} for what is refused).
 */
export async function saveLayersModelToDir(
  model: LayersModel,
  dir: string,
  options: SaveOptions = {},
): Promise<SavedModelFiles> {
  let files: SavedModelFiles | undefined;
  await model.save(dirSaveHandler(dir, { ...options, onSaved: (saved) => (files = saved) }));
  return files as SavedModelFiles;
}

/** Options of {@link dirSaveHandler}. */
export interface DirSaveOptions extends SaveOptions {
  /** Called with the written files once they are in place. */
  onSaved?: (files: SavedModelFiles) => void;
}

/**
 * A tfjs save handler (`model.save(handler)`, or any code that produces model
 * artifacts) that writes `model.json` and one weights shard into `dir` the way
 * {@link saveLayersModelToDir} does: the whole folder appears at once or not at all.
 * Artifacts' `userDefinedMetadata` is kept.
 */
export function dirSaveHandler(dir: string, options: DirSaveOptions = {}): io.IOHandler {
  const folder = resolve(dir);
  const weightsName = options.weightsFileName ?? 'weights.bin';
  if (weightsName.includes('/') || weightsName.includes('\\') || weightsName === 'model.json') {
    throw new ModelFileError(weightsName, "weightsFileName must be a plain file name other than 'model.json'");
  }
  return {
    save: async (artifacts) => {
      const weights = new Uint8Array(io.CompositeArrayBuffer.join(artifacts.weightData ?? []));
      const modelJson: io.ModelJSON = {
        modelTopology: artifacts.modelTopology as io.ModelJSON['modelTopology'],
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? '',
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [weightsName], weights: artifacts.weightSpecs ?? [] }],
        ...(artifacts.trainingConfig ? { trainingConfig: artifacts.trainingConfig } : {}),
        ...(artifacts.userDefinedMetadata ? { userDefinedMetadata: artifacts.userDefinedMetadata } : {}),
      };
      // Stringified first: a model JSON cannot hold fails before anything is written.
      let json: string;
      try {
        json = JSON.stringify(modelJson);
      } catch (error) {
        throw new ModelFileError(folder, `cannot save the model: ${(error as Error).message}`);
      }
      await writeFolder(folder, { [weightsName]: weights, 'model.json': json }, options);
      options.onSaved?.({
        modelJsonPath: join(folder, 'model.json'),
        weightsPath: join(folder, weightsName),
        weightBytes: weights.byteLength,
      });
      return { modelArtifactsInfo: io.getModelArtifactsInfoForJSON(artifacts) };
    },
  };
}

/**
 * Writes `files` (name to contents) as the folder `dir`, whole or not at all: into a
 * hidden sibling that is renamed into place. A folder that holds files, or leftovers
 * of interrupted writes beside it, is refused unless `overwrite` (see
 * {@link checkSaveFolder}); with it, the old folder is set aside until the new one is
 * in place, and leftovers are removed.
 * @throws ModelFileError naming the folder and the problem; nothing is left behind.
 */
export async function writeFolder(
  dir: string,
  files: Record<string, Uint8Array | string>,
  options: { overwrite?: boolean } = {},
): Promise<void> {
  const folder = resolve(dir);
  await checkSaveFolder(folder, options);
  await mkdir(dirname(folder), { recursive: true });
  const staging = siblingName(folder, 'partial');
  try {
    await mkdir(staging);
    for (const [name, contents] of Object.entries(files)) await writeFile(join(staging, name), contents);
    await moveIntoPlace(staging, folder);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw new ModelFileError(folder, `cannot write the folder: ${(error as Error).message}`);
  }
  if (options.overwrite) await Promise.all((await leftovers(folder)).map((path) => rm(path, { recursive: true })));
}

/** Options of {@link checkSaveFolder}. */
export interface CheckSaveFolderOptions {
  /** As {@link SaveOptions.overwrite}. */
  overwrite?: boolean;
  /** How the caller spells the overwrite option in messages. Default 'overwrite: true'. */
  overwriteOption?: string;
}

/**
 * Refuses a folder a save would fail on or would have to delete from, before any work
 * is done: a path that is a file; a folder that already holds files, or leftovers of
 * an interrupted save beside it (hidden `.<name>.partial-*` / `.<name>.replaced-*`
 * folders, named in the message), unless `overwrite`; a folder that cannot be created
 * or written (the nearest existing folder on its path must be writable).
 * @throws ModelFileError naming the folder and the problem.
 */
export async function checkSaveFolder(dir: string, options: CheckSaveFolderOptions = {}): Promise<void> {
  const folder = resolve(dir);
  const replace = `pass ${options.overwriteOption ?? 'overwrite: true'} to replace`;
  const info = await stat(folder).catch(() => null);
  if (info && !info.isDirectory()) throw new ModelFileError(folder, 'exists and is not a folder');
  if (!options.overwrite) {
    const held = info ? await readdir(folder) : [];
    if (held.length > 0) {
      throw new ModelFileError(folder, `already holds files (${listed(held)}): ${replace} them`);
    }
    const debris = await leftovers(folder);
    if (debris.length > 0) {
      throw new ModelFileError(
        folder,
        `an interrupted save left ${listed(debris)} beside it: remove ${debris.length > 1 ? 'them' : 'it'} or ${replace}`,
      );
    }
  }
  // The folder, or the nearest folder above it that exists: where it will be created.
  let existing = folder;
  let found = info;
  while (!found) {
    existing = dirname(existing);
    found = await stat(existing).catch(() => null);
  }
  if (!found.isDirectory()) throw new ModelFileError(folder, `cannot be created: ${existing} is a file`);
  // The staging folder is created beside the target, so its parent must be writable too.
  const parent = existing === folder ? dirname(folder) : existing;
  for (const path of new Set([existing, parent])) {
    try {
      await access(path, constants.W_OK);
    } catch {
      throw new ModelFileError(folder, `cannot be written: no write permission in ${path}`);
    }
  }
}

/** Renames the staged folder to `folder`, setting aside (then removing) what was there. */
async function moveIntoPlace(staging: string, folder: string): Promise<void> {
  const previous = await stat(folder).catch(() => null);
  if (!previous) {
    await rename(staging, folder);
    return;
  }
  // If the process dies between the two renames, the old model survives as a named leftover.
  const replaced = siblingName(folder, 'replaced');
  await rename(folder, replaced);
  await rename(staging, folder);
  await rm(replaced, { recursive: true, force: true });
}

/** A fresh hidden sibling of `folder`: `.<name>.<kind>-<pid>-<random>`. */
function siblingName(folder: string, kind: 'partial' | 'replaced'): string {
  return join(dirname(folder), `.${basename(folder)}.${kind}-${process.pid}-${randomBytes(4).toString('hex')}`);
}

/** Leftovers of interrupted saves to `folder`, as full paths. */
async function leftovers(folder: string): Promise<string[]> {
  const prefix = `.${basename(folder)}.`;
  const names = await readdir(dirname(folder)).catch(() => [] as string[]);
  return names
    .filter((name) => name.startsWith(prefix) && /^(partial|replaced)-/.test(name.slice(prefix.length)))
    .map((name) => join(dirname(folder), name));
}

function listed(names: string[]): string {
  const shown = names.slice(0, 5).join(', ');
  return names.length > 5 ? `${shown} and ${names.length - 5} more` : shown;
}
