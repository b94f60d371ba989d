import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { io, ready } from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';
import { ModelFileError } from './errors.js';
import { groupBytes } from './manifest.js';

/**
 * Reads a tfjs LayersModel from `model.json` and the weight shards its manifest lists
 * (paths relative to the model.json folder), without tfjs-node.
 *
 * Custom layer classes must be registered first (for quantized models: import
 * `@qimera/quantizers`).
 *
 * @throws ModelFileError naming the file when model.json or a shard is missing or
 *   unreadable, model.json is not valid JSON or lacks `modelTopology` /
 *   `weightsManifest`, a shard group is shorter (truncated) or longer than its manifest
 *   says, or the topology names an unknown layer class.
 */
export async function loadLayersModelFromFile(modelJsonPath: string): Promise<LayersModel> {
  const file = resolve(modelJsonPath);
  const artifacts = await readModelArtifacts(file);
  // Backends such as wasm start asynchronously; building the model needs one running.
  await ready();
  try {
    return await loadLayersModel(io.fromMemory(artifacts));
  } catch (error) {
    const message = (error as Error).message;
    const hint = /Unknown layer/.test(message)
      ? ' (for quantized models, import "@qimera/quantizers" first to register its layers)'
      : '';
    throw new ModelFileError(file, `cannot build the model: ${message}${hint}`);
  }
}

/**
 * A tfjs load handler for `model.json` and its weight shards (what
 * {@link loadLayersModelFromFile} reads), for code that takes any `io.IOHandler`.
 * Its `load()` throws the same {@link ModelFileError}s.
 */
export function fileLoadHandler(modelJsonPath: string): io.IOHandler {
  return { load: () => readModelArtifacts(resolve(modelJsonPath)) };
}

async function readModelArtifacts(file: string): Promise<io.ModelArtifacts> {
  const modelJson = parseModelJson(file, await readOrThrow(file, 'model.json'));
  return io.getModelArtifactsForJSON(modelJson, (manifest) => readWeights(file, manifest));
}

function parseModelJson(file: string, bytes: Buffer): io.ModelJSON {
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new ModelFileError(file, `not valid JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelFileError(file, 'expected a JSON object with modelTopology and weightsManifest');
  }
  const model = json as Partial<io.ModelJSON>;
  if (typeof model.modelTopology !== 'object' || model.modelTopology === null) {
    throw new ModelFileError(file, 'has no modelTopology object: is this a tfjs LayersModel model.json?');
  }
  if (!Array.isArray(model.weightsManifest)) {
    throw new ModelFileError(file, 'has no weightsManifest array');
  }
  for (const [i, group] of model.weightsManifest.entries()) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) {
      throw new ModelFileError(file, `weightsManifest[${i}] needs 'paths' and 'weights' arrays`);
    }
  }
  return model as io.ModelJSON;
}

async function readWeights(
  modelJsonFile: string,
  manifest: io.WeightsManifestConfig,
): Promise<[io.WeightsManifestEntry[], ArrayBuffer]> {
  const folder = dirname(modelJsonFile);
  const specs: io.WeightsManifestEntry[] = [];
  const groups: Buffer[] = [];
  for (const group of manifest) {
    const shardFiles = group.paths.map((path) => resolve(folder, path));
    const shards = await Promise.all(shardFiles.map((shard) => readOrThrow(shard, 'weights shard')));
    const actual = shards.reduce((n, shard) => n + shard.byteLength, 0);
    const expected = groupBytes(group.weights);
    if (expected !== null && actual !== expected) {
      const names = shardFiles.join(', ');
      throw new ModelFileError(
        names,
        actual < expected
          ? `truncated: holds ${actual} bytes, the manifest in ${modelJsonFile} expects ${expected}`
          : `holds ${actual} bytes, ${actual - expected} more than the manifest in ${modelJsonFile} expects (${expected})`,
      );
    }
    specs.push(...group.weights);
    groups.push(...shards);
  }
  const joined = Buffer.concat(groups);
  return [specs, joined.buffer.slice(joined.byteOffset, joined.byteOffset + joined.byteLength) as ArrayBuffer];
}

async function readOrThrow(file: string, what: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelFileError(
      file,
      code === 'ENOENT' ? `${what} not found` : `cannot read ${what} (${code ?? (error as Error).message})`,
    );
  }
}
