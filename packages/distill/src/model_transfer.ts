import { io } from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';

/** A model's topology and weights as plain, structured-cloneable data. */
export async function modelArtifacts(model: LayersModel): Promise<io.ModelArtifacts> {
  let captured: io.ModelArtifacts | null = null;
  await model.save(
    io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  if (!captured) throw new Error(`modelArtifacts: saving model '${model.name}' produced nothing`);
  return captured;
}

/** Rebuilds a model from {@link modelArtifacts} (its layer classes must be registered). */
export function modelFromArtifacts(artifacts: io.ModelArtifacts): Promise<LayersModel> {
  return loadLayersModel(io.fromMemory(artifacts));
}
