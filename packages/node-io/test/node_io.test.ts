import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import {
  checkSaveFolder,
  dirSaveHandler,
  entryBytes,
  groupBytes,
  loadLayersModelFromFile,
  ModelFileError,
  saveLayersModelToDir,
  topologyProblem,
} from '../src/index.js';

let root = '';
beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'qimera-node-io-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const x = () => tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);
const predictions = (net: LayersModel) => Array.from((net.predict(x()) as tf.Tensor).dataSync());

async function savedCopy(name: string): Promise<{ dir: string; modelJson: string; net: LayersModel }> {
  const net = tinySequential();
  const dir = join(root, name);
  const saved = await saveLayersModelToDir(net, dir);
  return { dir, modelJson: saved.modelJsonPath, net };
}

describe('saveLayersModelToDir / loadLayersModelFromFile', () => {
  it('round-trips topology and weights exactly, leaving only the two files', async () => {
    const { dir, modelJson, net } = await savedCopy('plain');
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await loadLayersModelFromFile(modelJson);
    expect(loaded.layers.map((l) => l.name)).toEqual(net.layers.map((l) => l.name));
    expect(predictions(loaded)).toEqual(predictions(net));
    const manifest = JSON.parse(await readFile(modelJson, 'utf8'));
    expect(manifest.format).toBe('layers-model');
    expect(manifest.weightsManifest[0].paths).toEqual(['weights.bin']);
  });

  it('loads weights sharded over several files and groups', async () => {
    const { dir, modelJson, net } = await savedCopy('sharded');
    const json = JSON.parse(await readFile(modelJson, 'utf8'));
    const weights = await readFile(join(dir, 'weights.bin'));
    const specs = json.weightsManifest[0].weights as tf.io.WeightsManifestEntry[];
    // Group 1: the first two tensors, split into two shard files; group 2: the rest.
    const firstBytes = groupBytes(specs.slice(0, 2)) as number;
    const cut = Math.floor(firstBytes / 2);
    await writeFile(join(dir, 'g1-a.bin'), weights.subarray(0, cut));
    await writeFile(join(dir, 'g1-b.bin'), weights.subarray(cut, firstBytes));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'sub', 'g2.bin'), weights.subarray(firstBytes));
    json.weightsManifest = [
      { paths: ['g1-a.bin', 'g1-b.bin'], weights: specs.slice(0, 2) },
      { paths: ['sub/g2.bin'], weights: specs.slice(2) },
    ];
    await writeFile(modelJson, JSON.stringify(json));
    expect(predictions(await loadLayersModelFromFile(modelJson))).toEqual(predictions(net));
  });

  it('names the file and the problem when model.json is missing or corrupt', async () => {
    const missing = join(root, 'absent', 'model.json');
    await expect(loadLayersModelFromFile(missing)).rejects.toThrow(`${missing}: model.json not found`);
    const { modelJson } = await savedCopy('corrupt');
    await writeFile(modelJson, '{"modelTopology": ');
    await expect(loadLayersModelFromFile(modelJson)).rejects.toThrow(new RegExp(`${modelJson}: not valid JSON`));
    await writeFile(modelJson, '{"weightsManifest": []}');
    await expect(loadLayersModelFromFile(modelJson)).rejects.toThrow(/has no modelTopology object/);
    await writeFile(modelJson, '[1, 2]');
    await expect(loadLayersModelFromFile(modelJson)).rejects.toThrow(ModelFileError);
  });

  it('names the shard when weights are missing, truncated or too long', async () => {
    const { dir, modelJson } = await savedCopy('broken-weights');
    const shard = join(dir, 'weights.bin');
    const bytes = await readFile(shard);
    await truncate(shard, bytes.byteLength - 8);
    await expect(loadLayersModelFromFile(modelJson)).rejects.toThrow(
      `${shard}: truncated: holds ${bytes.byteLength - 8} bytes, the manifest in ${modelJson} expects ${bytes.byteLength}`,
    );
    await writeFile(shard, Buffer.concat([bytes, Buffer.alloc(4)]));
    await expect(loadLayersModelFromFile(modelJson)).rejects.toThrow(/holds \d+ bytes, 4 more than the manifest/);
    await rm(shard);
    await expect(loadLayersModelFromFile(modelJson)).rejects.toThrow(`${shard}: weights shard not found`);
  });

  it('explains unknown layer classes', async () => {
    const { modelJson } = await savedCopy('unknown-class');
    const json = JSON.parse(await readFile(modelJson, 'utf8'));
    json.modelTopology.config.layers[0].class_name = 'QuantizedConv2DFromTheFuture';
    await writeFile(modelJson, JSON.stringify(json));
    await expect(loadLayersModelFromFile(modelJson)).rejects.toThrow(
      /cannot build the model: .*Unknown layer.*@qimera\/quantizers/s,
    );
  });

  it('leaves nothing half-written when saving fails', async () => {
    const dir = join(root, 'fails');
    // JSON cannot hold a BigInt: model.json fails after the weights are written.
    const artifacts = { modelTopology: { bad: 1n } as never, weightSpecs: [], weightData: new ArrayBuffer(8) };
    await expect(dirSaveHandler(dir).save?.(artifacts)).rejects.toThrow(`${dir}: cannot save the model`);
    expect((await readdir(root)).filter((name) => name.includes('fails'))).toEqual([]);
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    await expect(saveLayersModelToDir(tinySequential(), file)).rejects.toThrow(`${file}: exists and is not a folder`);
    await expect(saveLayersModelToDir(tinySequential(), join(file, 'below'))).rejects.toThrow(
      `cannot be created: ${file} is a file`,
    );
    await expect(
      saveLayersModelToDir(tinySequential(), join(root, 'bad-name'), { weightsFileName: '../w.bin' }),
    ).rejects.toThrow(/weightsFileName must be a plain file name/);
    await expect(readdir(join(root, 'bad-name'))).rejects.toThrow(/ENOENT/);
  });

  it('replaces a folder holding files only with overwrite, keeping the old model until the new one is in place', async () => {
    const { dir, modelJson } = await savedCopy('replaced');
    const before = await readFile(modelJson, 'utf8');
    await expect(saveLayersModelToDir(tinySequential(), dir)).rejects.toThrow(
      `${dir}: already holds files (model.json, weights.bin): pass overwrite: true to replace them`,
    );
    expect(await readFile(modelJson, 'utf8')).toBe(before);
    const other = tinySequential();
    await saveLayersModelToDir(other, dir, { overwrite: true });
    expect(predictions(await loadLayersModelFromFile(modelJson))).toEqual(predictions(other));
    expect((await readdir(root)).filter((name) => name.startsWith('.replaced'))).toEqual([]);
    // An empty folder is simply filled.
    await mkdir(join(root, 'empty'));
    await saveLayersModelToDir(tinySequential(), join(root, 'empty'));
    expect((await readdir(join(root, 'empty'))).sort()).toEqual(['model.json', 'weights.bin']);
  });

  it('names what an interrupted save left beside the folder and removes it with overwrite', async () => {
    const dir = join(root, 'killed');
    const debris = [join(root, '.killed.partial-4242-0a0b0c0d'), join(root, '.killed.replaced-4242-0e0f0a0b')];
    for (const path of debris) await mkdir(path);
    await writeFile(join(debris[0] as string, 'weights.bin'), 'half');
    const refusal = `${dir}: an interrupted save left ${debris.join(', ')} beside it: remove them or pass --force to replace`;
    await expect(checkSaveFolder(dir, { overwriteOption: '--force' })).rejects.toThrow(refusal);
    await expect(saveLayersModelToDir(tinySequential(), dir)).rejects.toThrow(ModelFileError);
    await checkSaveFolder(dir, { overwrite: true });
    await saveLayersModelToDir(tinySequential(), dir, { overwrite: true });
    expect((await readdir(root)).filter((name) => name.includes('killed'))).toEqual(['killed']);
  });
});

describe('topologyProblem', () => {
  const functional = () => ({
    class_name: 'Model',
    config: {
      layers: [
        { name: 'in', class_name: 'InputLayer', config: {}, inbound_nodes: [] },
        {
          name: 'fc',
          class_name: 'Dense',
          config: { kernel_initializer: { class_name: 'VarianceScaling', config: { scale: 1, seed: null } } },
          inbound_nodes: [[['in', 0, 0, {}]]],
        },
      ],
      input_layers: [['in', 0, 0]],
      output_layers: [['fc', 0, 0]],
    },
  });
  type Edit = (t: ReturnType<typeof functional>) => void;
  const problemAfter = (edit: Edit) => {
    const t = functional();
    edit(t);
    return topologyProblem(t);
  };

  it('accepts a well-formed graph and what tfjs saves', async () => {
    expect(topologyProblem(functional())).toBeNull();
    const { modelJson } = await savedCopy('checked');
    expect(topologyProblem(JSON.parse(await readFile(modelJson, 'utf8')).modelTopology)).toBeNull();
  });

  it('names the graphs tfjs-layers would loop forever on', () => {
    const fc = (t: ReturnType<typeof functional>) => t.config.layers[1] as Record<string, unknown>;
    expect(problemAfter((t) => delete (fc(t) as { name?: string }).name)).toBe(
      'modelTopology.config.layers[1] has no name',
    );
    expect(problemAfter((t) => (fc(t).inbound_nodes = [[['gone', 0, 0, {}]]]))).toBe(
      `layer 'fc' connects to "gone", which is not a layer of the model`,
    );
    expect(problemAfter((t) => (fc(t).inbound_nodes = [[['in', 1, 0, {}]]]))).toBe(
      "layer 'fc' connects to node 1 of 'in', which has 1",
    );
    expect(problemAfter((t) => (fc(t).inbound_nodes = [[]]))).toBe(
      "layer 'fc': each inbound node must be a non-empty array of connections",
    );
    expect(problemAfter((t) => (t.config.output_layers = [['fc', 3, 0]]))).toBe(
      "modelTopology.config.output_layers connects to node 3 of 'fc', which has 1",
    );
    expect(
      problemAfter((t) => {
        const first = t.config.layers[0] as Record<string, unknown>;
        first.class_name = 'Dense';
        first.inbound_nodes = [[['fc', 0, 0, {}]]];
      }),
    ).toBe("layer 'in' depends on its own output (the connections form a cycle)");
    expect(
      problemAfter((t) => {
        (fc(t).config as { kernel_initializer: { config: { scale: unknown } } }).kernel_initializer.config.scale = [
          1, 2,
        ];
      }),
    ).toBe("layer 'fc': kernel_initializer.config.scale must be a finite number, got [1,2]");
  });
});

describe('manifest sizes', () => {
  it('counts bytes per dtype, quantized entries by their stored dtype', () => {
    expect(entryBytes({ name: 'a', shape: [2, 3], dtype: 'float32' })).toBe(24);
    expect(entryBytes({ name: 'b', shape: [5], dtype: 'bool' })).toBe(5);
    expect(
      entryBytes({ name: 'c', shape: [4, 4], dtype: 'float32', quantization: { dtype: 'uint8', scale: 1, min: 0 } }),
    ).toBe(16);
    expect(entryBytes({ name: 'd', shape: [3], dtype: 'float32', quantization: { dtype: 'float16' } })).toBe(6);
    expect(entryBytes({ name: 'e', shape: [], dtype: 'int32' })).toBe(4);
    expect(entryBytes({ name: 's', shape: [2], dtype: 'string' })).toBeNull();
    expect(
      groupBytes([
        { name: 'a', shape: [2], dtype: 'float32' },
        { name: 's', shape: [1], dtype: 'string' },
      ]),
    ).toBeNull();
  });
});
