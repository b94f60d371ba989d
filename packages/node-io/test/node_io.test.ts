import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import { entryBytes, groupBytes, loadLayersModelFromFile, ModelFileError, saveLayersModelToDir } from '../src/index.js';

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
    const dir = join(root, 'blocked');
    await mkdir(join(dir, 'weights.bin'), { recursive: true }); // a folder where the shard must go
    await expect(saveLayersModelToDir(tinySequential(), dir)).rejects.toThrow(ModelFileError);
    expect(await readdir(dir)).toEqual(['weights.bin']);
    const file = join(root, 'a-file');
    await writeFile(file, 'x');
    await expect(saveLayersModelToDir(tinySequential(), file)).rejects.toThrow(`${file}: exists and is not a folder`);
    await expect(
      saveLayersModelToDir(tinySequential(), join(root, 'bad-name'), { weightsFileName: '../w.bin' }),
    ).rejects.toThrow(/weightsFileName must be a plain file name/);
    await expect(readdir(join(root, 'bad-name'))).rejects.toThrow(/ENOENT/);
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
