import { loadQuantizedModel } from '@qimera/export';
import { loadLayersModelFromFile, ModelFileError, readFileOrThrow } from '@qimera/node-io';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** Loads an exported qimera artifact or a plain tfjs LayersModel, whichever the file is. */
export async function loadAnyModel(modelJsonPath: string): Promise<{ model: LayersModel; exported: boolean }> {
  const text = await readFileOrThrow(modelJsonPath, 'model.json');
  let json: { userDefinedMetadata?: { qimera?: unknown } };
  try {
    json = JSON.parse(text.toString('utf8'));
  } catch (error) {
    throw new ModelFileError(modelJsonPath, `cannot read model.json (${(error as Error).message})`);
  }
  if (json?.userDefinedMetadata?.qimera) return { model: await loadQuantizedModel(modelJsonPath), exported: true };
  return { model: await loadLayersModelFromFile(modelJsonPath), exported: false };
}
