import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModelFromFile, saveLayersModelToDir } from 'qimera/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import { unpackLayersModel } from '../src/npm_model.js';

let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = await mkdtemp(join(tmpdir(), 'qimera-npm-model-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

// nsfwjs ships each file as a UMD module whose export is the model JSON or a base64 shard.
const umd = (value: unknown) =>
  `!function(e){if("object"==typeof exports&&"undefined"!=typeof module)module.exports=e();else window.model=e()}(function(){return ${JSON.stringify(value)}});`;

describe('unpackLayersModel', () => {
  it('unwraps model.min.js and shard .min.js modules into a model that predicts as the original', async () => {
    const original = tinySequential();
    const saved = join(dir, 'saved');
    await saveLayersModelToDir(original, saved);
    const shipped = join(dir, 'shipped');
    await saveLayersModelToDir(original, shipped);
    const json = JSON.parse(await readFile(join(shipped, 'model.json'), 'utf8'));
    for (const path of json.weightsManifest.flatMap((g: { paths: string[] }) => g.paths)) {
      const bytes = await readFile(join(shipped, path));
      await writeFile(join(shipped, `${path}.min.js`), umd(bytes.toString('base64')));
      await rm(join(shipped, path));
    }
    await writeFile(join(shipped, 'model.min.js'), umd(json));
    await rm(join(shipped, 'model.json'));

    const unpacked = await unpackLayersModel(shipped, join(dir, 'unpacked'));
    expect((await readdir(join(dir, 'unpacked'))).sort()).toEqual((await readdir(saved)).sort());
    const restored = await loadLayersModelFromFile(unpacked);
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 3);
    const [a, b] = [original.predict(x) as tf.Tensor, restored.predict(x) as tf.Tensor];
    expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
    tf.dispose([x, a, b]);
    original.dispose();
    restored.dispose();
  });

  it('copies a plainly shipped model.json and its shards', async () => {
    const original = tinySequential();
    await saveLayersModelToDir(original, join(dir, 'plain'));
    const unpacked = await unpackLayersModel(join(dir, 'plain'), join(dir, 'plain-copy'));
    const restored = await loadLayersModelFromFile(unpacked);
    expect(restored.countParams()).toBe(original.countParams());
    original.dispose();
    restored.dispose();
  });
});
