import { readFile } from 'node:fs/promises';
import { loadQuantizedModel } from '@qimera/export';
import { loadLayersModelFromFile, ModelFileError } from '@qimera/node-io';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** Loads an exported qimera artifact or a plain tfjs LayersModel, whichever the file is. */
export async function loadAnyModel(modelJsonPath: string): Promise<{ model: LayersModel; exported: boolean }> {
  let json: { userDefinedMetadata?: { qimera?: unknown } };
  try {
    json = JSON.parse(await readFile(modelJsonPath, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelFileError(
      modelJsonPath,
      code === 'ENOENT' ? 'model.json not found' : `cannot read model.json (${code ?? (error as Error).message})`,
    );
  }
  if (json?.userDefinedMetadata?.qimera) return { model: await loadQuantizedModel(modelJsonPath), exported: true };
  return { model: await loadLayersModelFromFile(modelJsonPath), exported: false };
}
