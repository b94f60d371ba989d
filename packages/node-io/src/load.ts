import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { dispose, engine, io, ready, type Tensor, tidy } from '@tensorflow/tfjs-core';
import { type LayersModel, models } from '@tensorflow/tfjs-layers';
import { ModelFileError } from './errors.js';
import { entryBytes, entryProblem, groupBytes } from './manifest.js';
import { topologyProblem } from './topology_check.js';

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
 *   says, the topology names an unknown layer class, or a functional topology is not a
 *   graph tfjs can rebuild (layers without names, connections to missing layers or
 *   nodes, cycles: tfjs-layers would loop forever on those).
 */
export async function loadLayersModelFromFile(modelJsonPath: string): Promise<LayersModel> {
  const file = resolve(modelJsonPath);
  const artifacts = await readModelArtifacts(file);
  for (const entry of artifacts.weightSpecs ?? []) {
    const stored = entry.quantization?.dtype ?? entry.dtype;
    if (entryBytes(entry) === null && stored !== 'string') {
      throw new ModelFileError(
        file,
        `weight '${entry.name}' has a dtype tfjs cannot decode: ${JSON.stringify(stored)}`,
      );
    }
  }
  // Backends such as wasm start asynchronously; building the model needs one running.
  await ready();
  try {
    return await buildWithoutLeaks(artifacts);
  } catch (error) {
    const message = (error as Error).message;
    const hint = /Unknown layer/.test(message)
      ? ' (for quantized models, import "@qimera/quantizers" first to register its layers)'
      : '';
    throw new ModelFileError(file, `cannot build the model: ${message}${hint}`);
  }
}

/**
 * `tf.loadLayersModel`'s steps, except that a failure (a layer tfjs cannot build, weights
 * that do not fit the topology) disposes the variables and decoded weights made so far.
 * Optimizer weights in the file are skipped: a loaded model is used, not trained on.
 */
async function buildWithoutLeaks(artifacts: io.ModelArtifacts): Promise<LayersModel> {
  const registered = engine().state.registeredVariables;
  const before = new Set(Object.keys(registered));
  const specs = artifacts.weightSpecs ?? [];
  const decoded = io.decodeWeights(artifacts.weightData ?? new ArrayBuffer(0), specs);
  try {
    // Building runs synchronously inside modelFromJSON: tidy then disposes the
    // initializers' temporaries of layers built before a failure (variables are kept).
    let building: Promise<LayersModel> | undefined;
    tidy(() => {
      building = models.modelFromJSON({ modelTopology: artifacts.modelTopology as never });
    });
    const model = await (building as Promise<LayersModel>);
    if (artifacts.trainingConfig) model.loadTrainingConfig(artifacts.trainingConfig as never);
    if (artifacts.userDefinedMetadata) model.setUserDefinedMetadata(artifacts.userDefinedMetadata);
    const modelWeights = Object.fromEntries(
      specs.filter((spec) => spec.group !== 'optimizer').map((spec) => [spec.name, decoded[spec.name] as Tensor]),
    );
    model.loadWeights(modelWeights, true);
    return model;
  } catch (error) {
    for (const [name, variable] of Object.entries(registered)) if (!before.has(name)) variable.dispose();
    throw error;
  } finally {
    dispose(Object.values(decoded));
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
  const modelJson = parseModelJson(file, await readFileOrThrow(file, 'model.json'));
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
  const problem = topologyProblem(model.modelTopology);
  if (problem) throw new ModelFileError(file, problem);
  if (!Array.isArray(model.weightsManifest)) {
    throw new ModelFileError(file, 'has no weightsManifest array');
  }
  for (const [i, group] of model.weightsManifest.entries()) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group?.weights)) {
      throw new ModelFileError(file, `weightsManifest[${i}] needs 'paths' and 'weights' arrays`);
    }
    if (!group.paths.every((path) => typeof path === 'string')) {
      throw new ModelFileError(file, `weightsManifest[${i}].paths must hold file names`);
    }
    for (const [j, entry] of (group.weights as unknown[]).entries()) {
      const problem = entryProblem(entry);
      if (problem) throw new ModelFileError(file, `weightsManifest[${i}].weights[${j}] ${problem}`);
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
    const shards = await Promise.all(shardFiles.map((shard) => readFileOrThrow(shard, 'weights shard')));
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

/**
 * A file's bytes.
 * @param what how messages call the file ('model.json', 'weights shard', ...).
 * @throws ModelFileError naming the file: `<what> not found`, or why it cannot be read.
 */
export async function readFileOrThrow(file: string, what: string): Promise<Buffer> {
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
