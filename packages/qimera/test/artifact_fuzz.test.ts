// Seeded, bounded fuzzing of the files users load: every damaged file either loads with
// predictions bit-identical to the original or fails with an error that names the file,
// and no failure leaves a tensor behind.
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinyBranchy } from '../../../test-support/models.js';
import {
  ArtifactError,
  calibrateActivationRanges,
  exportQuantized,
  loadQuantizedModel,
  quantizeModel,
  SeededRandom,
} from '../src/index.js';
import { loadLayersModelFromFile, ModelFileError, saveLayersModelToDir } from '../src/node.js';

/**
 * Mutations per model (three models: ~900 loads, a few seconds); set
 * QIMERA_FUZZ_MUTATIONS for a longer local run.
 */
const MUTATIONS = Number(process.env.QIMERA_FUZZ_MUTATIONS ?? 300);

let root = '';
beforeAll(async () => {
  await useBackend('cpu');
  root = await mkdtemp(join(tmpdir(), 'qimera-fuzz-'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

type Mutation = { name: string; apply: (files: Map<string, Buffer>, random: SeededRandom) => void };

/** A JSON value of a kind a careless edit or a bad tool writes. */
function oddValue(random: SeededRandom): unknown {
  const values = [null, -1, 0, 1, 3, 1e308, -1e-30, 0.5, '4', '', [], {}, true, [1, 2], { min: 0 }];
  return values[random.int(values.length)];
}

/** Every path to a leaf (or a container) of a parsed JSON value. */
function jsonPaths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const here = prefix.length > 0 ? [prefix] : [];
  if (Array.isArray(value)) return [...here, ...value.flatMap((v, i) => jsonPaths(v, [...prefix, i]))];
  if (value && typeof value === 'object') {
    return [...here, ...Object.entries(value).flatMap(([k, v]) => jsonPaths(v, [...prefix, k]))];
  }
  return here;
}

function editJson(text: string, random: SeededRandom): string {
  const json = JSON.parse(text);
  const paths = jsonPaths(json);
  const path = paths[random.int(paths.length)] as (string | number)[];
  const parent = path.slice(0, -1).reduce((node, key) => node[key], json);
  const key = path[path.length - 1] as string | number;
  if (random.uniform() < 0.2 && !Array.isArray(parent)) delete parent[key];
  else parent[key] = oddValue(random);
  return JSON.stringify(json);
}

const MUTATIONS_OF: Mutation[] = [
  {
    name: 'weights truncated',
    apply: (files, random) => {
      const w = files.get('weights.bin') as Buffer;
      files.set('weights.bin', w.subarray(0, random.int(w.length)));
    },
  },
  {
    name: 'weights bit flipped',
    apply: (files, random) => {
      const w = Buffer.from(files.get('weights.bin') as Buffer);
      const at = random.int(w.length);
      w[at] = (w[at] as number) ^ (1 << random.int(8));
      files.set('weights.bin', w);
    },
  },
  {
    name: 'weights extended',
    apply: (files, random) => {
      const w = files.get('weights.bin') as Buffer;
      files.set('weights.bin', Buffer.concat([w, Buffer.alloc(1 + random.int(16), 7)]));
    },
  },
  {
    name: 'model.json truncated',
    apply: (files, random) => {
      const j = files.get('model.json') as Buffer;
      files.set('model.json', j.subarray(0, random.int(j.length)));
    },
  },
  {
    name: 'model.json byte changed',
    apply: (files, random) => {
      const j = Buffer.from(files.get('model.json') as Buffer);
      j[random.int(j.length)] = 32 + random.int(95);
      files.set('model.json', j);
    },
  },
  {
    name: 'model.json field edited',
    apply: (files, random) => {
      files.set('model.json', Buffer.from(editJson((files.get('model.json') as Buffer).toString('utf8'), random)));
    },
  },
];

/** Writes a mutated copy of `dir` and returns its model.json path and what was done. */
async function mutatedCopy(dir: string, index: number, random: SeededRandom): Promise<{ path: string; what: string }> {
  const files = new Map<string, Buffer>();
  for (const name of await readdir(dir)) files.set(name, await readFile(join(dir, name)));
  const mutation = MUTATIONS_OF[random.int(MUTATIONS_OF.length)] as Mutation;
  mutation.apply(files, random);
  const copy = join(root, `${index}`);
  await mkdir(copy);
  for (const [name, bytes] of files) await writeFile(join(copy, name), bytes);
  return { path: join(copy, 'model.json'), what: `#${index} ${mutation.name}` };
}

function logitBits(net: LayersModel, x: tf.Tensor): number[] {
  const y = net.predict(x) as tf.Tensor;
  const bits = Array.from(new Uint32Array(Float32Array.from(y.dataSync()).buffer));
  y.dispose();
  return bits;
}

/**
 * Loads `MUTATIONS` damaged copies of the model in `dir`; returns how many loaded (with
 * identical predictions) and how many were refused with a named error.
 */
async function fuzz(
  dir: string,
  seed: number,
  load: (path: string) => Promise<LayersModel>,
  expectIdentical: boolean,
): Promise<{ loaded: number; refused: number }> {
  const random = new SeededRandom(seed);
  const x = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 5);
  const reference = await load(join(dir, 'model.json'));
  const expected = logitBits(reference, x);
  reference.dispose();
  const counts = { loaded: 0, refused: 0 };
  for (let i = 0; i < MUTATIONS; i++) {
    const { path, what } = await mutatedCopy(dir, seed * 1000 + i, random);
    const before = tf.memory().numTensors;
    const result = await load(path).catch((error: unknown) => error);
    if (result instanceof Error) {
      expect(result instanceof ArtifactError || result instanceof ModelFileError, `${what}: ${result.stack}`).toBe(
        true,
      );
      expect(result.message, what).toContain(join(root, `${seed * 1000 + i}`));
      expect(tf.memory().numTensors, `${what} leaked tensors`).toBe(before);
      counts.refused++;
    } else {
      const model = result as LayersModel;
      if (expectIdentical) expect(logitBits(model, x), `${what} loaded with other predictions`).toEqual(expected);
      model.dispose();
      counts.loaded++;
    }
    await rm(join(root, `${seed * 1000 + i}`), { recursive: true });
  }
  x.dispose();
  return counts;
}

async function calibratedExport(weightBits: number, perChannelWeights: boolean, name: string): Promise<string> {
  const q = await quantizeModel(tinyBranchy(), { weightBits, activationBits: weightBits, perChannelWeights });
  const batch = tf.randomNormal([4, 9, 9, 3], 0, 1, 'float32', 11);
  await calibrateActivationRanges(q, [batch]);
  batch.dispose();
  const dir = join(root, name);
  await exportQuantized(q, dir);
  q.dispose();
  return dir;
}

describe('fuzzed files (seeded)', () => {
  it('a damaged export loads with bit-identical predictions or is refused naming the file, leaking nothing', async () => {
    for (const [seed, dir] of [
      [1, await calibratedExport(4, true, 'packed-w4')],
      [2, await calibratedExport(8, false, 'stock-w8')],
    ] as const) {
      const { loaded, refused } = await fuzz(dir, seed, loadQuantizedModel, true);
      expect(loaded + refused).toBe(MUTATIONS);
      // Most mutations hit what the loader reads; some (the stock topology) are harmless.
      expect(refused).toBeGreaterThan(MUTATIONS / 2);
    }
  });

  it('a damaged plain tfjs model loads or is refused naming the file, leaking nothing', async () => {
    const dir = join(root, 'plain');
    const net = tinyBranchy();
    await saveLayersModelToDir(net, dir);
    net.dispose();
    // Plain tfjs files carry no hash: a flipped weight bit loads with other predictions
    // (quantizeDataFree then refuses non-finite ones), so only the error kinds are checked.
    const { refused } = await fuzz(dir, 3, loadLayersModelFromFile, false);
    expect(refused).toBeGreaterThan(0);
  });
});
