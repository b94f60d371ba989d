import { mkdir, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
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
}

/**
 * Writes `model.json` and one weights shard into `dir` (created if needed), in the
 * standard tfjs format that {@link loadLayersModelFromFile} and `tf.loadLayersModel`
 * read. Files are written under temporary names and renamed into place, so a failure
 * never leaves a half-written model; a folder this call created is removed again on
 * failure.
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
 * {@link saveLayersModelToDir} does: atomically, removing a folder it created if the
 * write fails. Artifacts' `userDefinedMetadata` is kept.
 */
export function dirSaveHandler(dir: string, options: DirSaveOptions = {}): io.IOHandler {
  const folder = resolve(dir);
  const weightsName = options.weightsFileName ?? 'weights.bin';
  if (weightsName.includes('/') || weightsName.includes('\\') || weightsName === 'model.json') {
    throw new ModelFileError(weightsName, "weightsFileName must be a plain file name other than 'model.json'");
  }
  return {
    save: async (artifacts) => {
      const created = await ensureFolder(folder);
      const modelJsonPath = join(folder, 'model.json');
      const weightsPath = join(folder, weightsName);
      const temporary = [`${modelJsonPath}.tmp-${process.pid}`, `${weightsPath}.tmp-${process.pid}`] as const;
      try {
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
        await writeFile(temporary[1], weights);
        await writeFile(temporary[0], JSON.stringify(modelJson));
        await rename(temporary[1], weightsPath);
        await rename(temporary[0], modelJsonPath);
        options.onSaved?.({ modelJsonPath, weightsPath, weightBytes: weights.byteLength });
        return { modelArtifactsInfo: io.getModelArtifactsInfoForJSON(artifacts) };
      } catch (error) {
        await Promise.all(temporary.map((file) => rm(file, { force: true })));
        if (created && (await readdir(folder)).length === 0) await rm(folder, { recursive: true, force: true });
        throw error instanceof ModelFileError
          ? error
          : new ModelFileError(folder, `cannot save the model: ${(error as Error).message}`);
      }
    },
  };
}

/** Creates the folder if missing; true when this call created it. */
async function ensureFolder(folder: string): Promise<boolean> {
  try {
    const info = await stat(folder);
    if (!info.isDirectory()) throw new ModelFileError(folder, 'exists and is not a folder');
    return false;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    await mkdir(folder, { recursive: true });
    return true;
  }
}
