import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadLayersModelFromFile } from '@qimera/node-io';
import {
  ActivationQuantizer,
  activationQuantizers,
  calibrateActivationRanges,
  type QuantizedConv2D,
  quantizeModel,
} from '@qimera/quantizers';
import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinyBranchy } from '../../../test-support/models.js';
import { RESNET20_MODEL_JSON, sharedFilesMissing } from '../../../test-support/shared.js';
import {
  ArtifactError,
  contentHash,
  ExportError,
  type ExportMetadata,
  exportQuantized,
  loadQuantizedModel,
  packBits,
  quantizedArtifacts,
  unpackBits,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

/** The part of a topology these tests edit. */
type TopologyJson = { config: { layers: { name: string; config: Record<string, unknown> }[] } };

/** Byte offset of a manifest entry in the weight data, by the encodings' sizes. */
function entryOffset(artifacts: tf.io.ModelArtifacts, name: string): number {
  let offset = 0;
  for (const entry of artifacts.weightSpecs ?? []) {
    if (entry.name === name) return offset;
    const count = entry.shape.reduce((n, d) => n * d, 1);
    const quantization = entry.quantization as { dtype: string; bits?: number } | undefined;
    offset +=
      quantization?.dtype === 'qimera-packed'
        ? Math.ceil((count * (quantization.bits as number)) / 8)
        : quantization?.dtype === 'uint8'
          ? count
          : 4 * count;
  }
  throw new Error(`no entry '${name}'`);
}

/** Artifacts edited on purpose, with their content hash made to match again. */
function rehashed(artifacts: tf.io.ModelArtifacts): tf.io.ModelArtifacts {
  const meta = (artifacts.userDefinedMetadata as { qimera: ExportMetadata }).qimera;
  const data = new Uint8Array(artifacts.weightData as ArrayBuffer);
  const contentSha256 = contentHash(meta, artifacts.weightSpecs ?? [], data);
  return { ...artifacts, userDefinedMetadata: { qimera: { ...meta, contentSha256 } as never } };
}

/** Saves into memory; `saved()` returns what was written. */
function memoryTarget() {
  let artifacts: tf.io.ModelArtifacts | undefined;
  const handler = tf.io.withSaveHandler(async (a) => {
    artifacts = a;
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
  });
  return { handler, saved: () => artifacts as tf.io.ModelArtifacts };
}

async function calibrated(bits: { w: number; a: number }, perChannel = true): Promise<LayersModel> {
  const q = await quantizeModel(tinyBranchy(), {
    weightBits: bits.w,
    activationBits: bits.a,
    perChannelWeights: perChannel,
  });
  const batch = tf.randomNormal([4, 9, 9, 3], 0, 1, 'float32', 11);
  await calibrateActivationRanges(q, [batch]);
  batch.dispose();
  return q;
}

const bitsOf = (t: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));

describe('bit packing', () => {
  it('packs least significant bit first with no padding (hand-computed)', () => {
    // 2-bit [1, 2, 3, 0, 3] -> byte0 = 1 | 2<<2 | 3<<4 | 0<<6 = 57, byte1 = 3.
    expect(Array.from(packBits([1, 2, 3, 0, 3], 2))).toEqual([57, 3]);
    // 3-bit [5, 7, 6]: 101 | 111<<3 | 110<<6 = 0b1_1011_1101 -> [0xBD, 0x01].
    expect(Array.from(packBits([5, 7, 6], 3))).toEqual([0xbd, 0x01]);
  });

  it('round-trips every width from 1 to 8 bits, values straddling bytes included', () => {
    for (let bits = 1; bits <= 8; bits++) {
      const values = Array.from({ length: 37 }, (_, i) => (i * 2654435761) % 2 ** bits);
      const packed = packBits(values, bits);
      expect(packed.length).toBe(Math.ceil((37 * bits) / 8));
      expect(Array.from(unpackBits(packed, bits, 37))).toEqual(values);
    }
  });

  it('refuses values that do not fit and short buffers', () => {
    expect(() => packBits([0, 16], 4)).toThrow('value 16 at index 1 is not an unsigned 4-bit integer');
    expect(() => packBits([1], 9)).toThrow('bits must be an integer from 1 to 8, got 9');
    expect(() => unpackBits(new Uint8Array(1), 4, 3)).toThrow('3 4-bit values need 2 bytes, got 1');
  });
});

describe('exportQuantized / loadQuantizedModel', () => {
  it('round-trips a packed W4A4 per-channel model with bit-identical predictions', async () => {
    const q = await calibrated({ w: 4, a: 4 });
    const target = memoryTarget();
    const report = await exportQuantized(q, target.handler);
    expect(report.kernelEncoding).toBe('packed');
    expect(report.quantizedLayers).toBe(6);
    const loaded = await loadQuantizedModel(tf.io.fromMemory(target.saved()));
    const x = tf.randomNormal([5, 9, 9, 3], 0, 1.5, 'float32', 21);
    const [a, b] = [q.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(bitsOf(b)).toEqual(bitsOf(a));
    expect(activationQuantizers(loaded).every((l) => l.frozen)).toBe(true);
    expect(loaded.trainableWeights.filter((w) => w.name.includes('kernel'))).toEqual([]);
    // Kernels: the loaded on-grid kernel is the fake-quantized one, bit for bit.
    const original = (q.getLayer('dw') as QuantizedConv2D).quantizedKernel();
    const reloaded = (loaded.getLayer('dw') as QuantizedConv2D).quantizedKernel();
    expect(bitsOf(reloaded)).toEqual(bitsOf(original));
    tf.dispose([x, a, b, original, reloaded]);

    // A loaded model exports again to the same bytes.
    const again = memoryTarget();
    await exportQuantized(loaded, again.handler);
    expect(new Uint8Array(again.saved().weightData as ArrayBuffer)).toEqual(
      new Uint8Array(target.saved().weightData as ArrayBuffer),
    );
  });

  it('stores a k-bit kernel in k/32 of its float32 bytes plus per-channel scale and zero point', async () => {
    const q = await calibrated({ w: 3, a: 8 });
    const { artifacts, report } = await quantizedArtifacts(q);
    const entry = artifacts.weightSpecs?.find((e) => e.name === 'stem/kernel');
    expect(entry?.quantization).toEqual({ dtype: 'qimera-packed', bits: 3, offset: 0 });
    // stem kernel 3x3x3x6 = 162 values -> ceil(162 * 3 / 8) = 61 bytes.
    const names = artifacts.weightSpecs?.map((e) => e.name) ?? [];
    expect(names.slice(0, 3)).toEqual(['stem/kernel', 'stem/kernel_scale', 'stem/kernel_zero_point']);
    const floatBytes = q.layers
      .filter((l) => !(l instanceof ActivationQuantizer))
      .flatMap((l) => l.weights)
      .reduce((n, w) => n + 4 * w.shape.reduce((m: number, d) => m * (d as number), 1), 0);
    expect(report.floatWeightBytes).toBe(floatBytes);
    expect(report.weightBytes).toBe((artifacts.weightData as ArrayBuffer).byteLength);
    expect(report.ratio).toBeLessThan(0.35);
  });

  it("writes tfjs's own uint8 entries for 8-bit per-tensor kernels, loadable by stock tfjs", async () => {
    const q = await calibrated({ w: 8, a: 8 }, false);
    const target = memoryTarget();
    const report = await exportQuantized(q, target.handler);
    expect(report.kernelEncoding).toBe('tfjs-uint8');
    const artifacts = target.saved();
    expect(artifacts.weightSpecs?.find((e) => e.name === 'stem/kernel')?.quantization?.dtype).toBe('uint8');
    const topology = JSON.stringify(artifacts.modelTopology);
    expect(topology).not.toContain('Quantized');
    expect(topology).not.toContain('ActivationQuantizer');

    const stock = await loadLayersModel(tf.io.fromMemory(artifacts));
    const ours = await loadQuantizedModel(tf.io.fromMemory(artifacts));
    expect(stock.getLayer('stem').getClassName()).toBe('Conv2D');
    for (const name of ['stem', 'dw', 'logits']) {
      const stockKernel = stock.getLayer(name).getWeights()[0] as tf.Tensor;
      const ourKernel = (ours.getLayer(name) as QuantizedConv2D).quantizedKernel();
      expect(bitsOf(stockKernel)).toEqual(bitsOf(ourKernel));
      ourKernel.dispose();
    }
    const x = tf.randomNormal([3, 9, 9, 3], 0, 1, 'float32', 4);
    const [a, b] = [q.predict(x) as tf.Tensor, ours.predict(x) as tf.Tensor];
    expect(bitsOf(b)).toEqual(bitsOf(a));
    tf.dispose([x, a, b]);
  });

  it('names every problem and writes nothing', async () => {
    const q = await quantizeModel(tinyBranchy(), { weightBits: 12, activationBits: 4 });
    const target = memoryTarget();
    const before = tf.memory().numTensors;
    const error = await exportQuantized(q, target.handler).catch((e: unknown) => e);
    expect(tf.memory().numTensors, 'a refused export leaked tensors').toBe(before);
    expect(error).toBeInstanceOf(ExportError);
    expect((error as ExportError).problems).toEqual([
      "layer 'stem' has 12-bit weights; exports pack 2 to 8 bits",
      "layer 'down' has 12-bit weights; exports pack 2 to 8 bits",
      "layer 'dw' has 12-bit weights; exports pack 2 to 8 bits",
      "layer 'pw' has 12-bit weights; exports pack 2 to 8 bits",
      "layer 'skip' has 12-bit weights; exports pack 2 to 8 bits",
      "layer 'logits' has 12-bit weights; exports pack 2 to 8 bits",
      "activation quantizer 'stem_relu_quant' was never calibrated, so it has no range to export",
      "activation quantizer 'dw_quant' was never calibrated, so it has no range to export",
      "activation quantizer 'sum_relu6_quant' was never calibrated, so it has no range to export",
    ]);
    expect(target.saved()).toBeUndefined();
    await expect(exportQuantized(tinyBranchy(), target.handler)).rejects.toThrow(
      "model 'tiny_branchy' has no quantized layer: quantize it first",
    );
    const perChannel = await calibrated({ w: 8, a: 8 });
    await expect(quantizedArtifacts(perChannel, { kernelEncoding: 'tfjs-uint8' })).rejects.toThrow(
      "kernelEncoding 'tfjs-uint8' needs 8-bit per-tensor kernels; not so in: stem, down, dw, pw, skip, logits",
    );
    // A diverged student: non-finite weights are refused by name, nothing is written.
    const logits = perChannel.getLayer('logits');
    const [kernel, bias] = logits.getWeights();
    const broken = tf.fill(bias?.shape as number[], Number.NaN);
    logits.setWeights([kernel as tf.Tensor, broken]);
    broken.dispose();
    const beforeDiverged = tf.memory().numTensors;
    const diverged = await exportQuantized(perChannel, target.handler).catch((e: unknown) => e);
    expect(tf.memory().numTensors).toBe(beforeDiverged);
    expect((diverged as ExportError).problems).toEqual([
      `layer 'logits' weight 'logits/bias': ${bias?.size} NaN, 0 infinite (weights must be finite)`,
    ]);
    expect(target.saved()).toBeUndefined();
  });

  it('refuses plain models, other versions and damaged weights, naming the source', async () => {
    const plain = memoryTarget();
    await tinyBranchy().save(plain.handler);
    await expect(loadQuantizedModel(tf.io.fromMemory(plain.saved()))).rejects.toThrow(
      'the given IO handler: is not a qimera quantized export',
    );
    const { artifacts: good } = await quantizedArtifacts(await calibrated({ w: 4, a: 4 }));
    const meta = (good.userDefinedMetadata as { qimera: Record<string, unknown> }).qimera;
    const newer = { ...good, userDefinedMetadata: { qimera: { ...meta, version: 3 } } };
    await expect(loadQuantizedModel(tf.io.fromMemory(newer as never))).rejects.toThrow(
      'was exported in format version 3; this loader reads versions 1 and 2',
    );
    const truncated = rehashed({ ...good, weightData: (good.weightData as ArrayBuffer).slice(0, 100) });
    await expect(loadQuantizedModel(tf.io.fromMemory(truncated))).rejects.toThrow(ArtifactError);
    await expect(loadQuantizedModel(tf.io.fromMemory(truncated))).rejects.toThrow('weights data is truncated');
    const missing = { ...good, weightSpecs: good.weightSpecs?.filter((e) => e.name !== 'logits/bias') };
    const trimmed = rehashed({ ...missing, weightData: (good.weightData as ArrayBuffer).slice(0, -16) });
    await expect(loadQuantizedModel(tf.io.fromMemory(trimmed))).rejects.toThrow("the weights lack 'logits/bias'");
  });

  it('refuses content changed after export by its SHA-256; version 1 files without one still load', async () => {
    const q = await calibrated({ w: 4, a: 4 });
    const { artifacts: good } = await quantizedArtifacts(q);
    const meta = (good.userDefinedMetadata as { qimera: ExportMetadata }).qimera;
    expect(meta.contentSha256).toMatch(/^[0-9a-f]{64}$/);
    const load = (artifacts: tf.io.ModelArtifacts) => loadQuantizedModel(tf.io.fromMemory(artifacts));
    // One bit of one kernel byte: a valid grid value, so only the hash can tell.
    const flipped = (good.weightData as ArrayBuffer).slice(0);
    const view = new DataView(flipped);
    const at = entryOffset(good, 'stem/kernel');
    view.setUint8(at, view.getUint8(at) ^ 1);
    await expect(load({ ...good, weightData: flipped })).rejects.toThrow(
      /^the given IO handler: content does not match userDefinedMetadata\.qimera\.contentSha256 \(expected [0-9a-f]{64}, got [0-9a-f]{64}\)/,
    );
    const widened = {
      ...meta,
      activations: { ...meta.activations, dw_quant: { min: -9, max: 9, observedBatches: 1 } },
    };
    await expect(load({ ...good, userDefinedMetadata: { qimera: widened as never } })).rejects.toThrow(
      'content does not match',
    );
    const { contentSha256: _dropped, ...unhashed } = meta;
    await expect(load({ ...good, userDefinedMetadata: { qimera: unhashed as never } })).rejects.toThrow(
      'contentSha256 is missing',
    );
    const versionOne = await load({ ...good, userDefinedMetadata: { qimera: { ...unhashed, version: 1 } as never } });
    const x = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 8);
    const [a, b] = [q.predict(x) as tf.Tensor, versionOne.predict(x) as tf.Tensor];
    expect(bitsOf(b)).toEqual(bitsOf(a));
    tf.dispose([x, a, b]);
    versionOne.dispose();
  });

  it('refuses grids, ranges and weights that are not what the topology declares, naming each', async () => {
    const { artifacts: good } = await quantizedArtifacts(await calibrated({ w: 4, a: 4 }));
    const meta = (good.userDefinedMetadata as { qimera: { modelTopology: TopologyJson; activations: object } }).qimera;
    // Edited consistently (hash updated): the checks behind the hash must still hold.
    const load = (artifacts: tf.io.ModelArtifacts) => loadQuantizedModel(tf.io.fromMemory(rehashed(artifacts)));
    // Bytes of the weight data with one entry's bytes rewritten.
    const patched = (name: string, write: (view: DataView) => void): tf.io.ModelArtifacts => {
      const data = (good.weightData as ArrayBuffer).slice(0);
      write(new DataView(data, entryOffset(good, name)));
      return { ...good, weightData: data };
    };
    await expect(load(patched('stem/kernel_scale', (v) => v.setFloat32(0, Number.NaN, true)))).rejects.toThrow(
      "the given IO handler: kernel 'stem/kernel': scale 0 must be finite and > 0, got NaN",
    );
    await expect(load(patched('stem/kernel_scale', (v) => v.setFloat32(4, -0.5, true)))).rejects.toThrow(
      "kernel 'stem/kernel': scale 1 must be finite and > 0, got -0.5",
    );
    await expect(load(patched('down/kernel_zero_point', (v) => v.setUint8(2, 200)))).rejects.toThrow(
      "kernel 'down/kernel': zero point 2 must be an integer from 0 to 15, got 200",
    );
    await expect(load(patched('logits/bias', (v) => v.setFloat32(0, Number.POSITIVE_INFINITY, true)))).rejects.toThrow(
      "non-finite weights: layer 'logits' weight 'logits/bias': 0 NaN, 1 infinite",
    );
    // The topology says 3 bits where the kernel is packed with 4.
    const topology = structuredClone(meta.modelTopology);
    const stem = topology.config.layers.find((l) => l.name === 'stem');
    if (stem) stem.config.weight_bits = 3;
    await expect(
      load({ ...good, userDefinedMetadata: { qimera: { ...meta, modelTopology: topology } } }),
    ).rejects.toThrow("kernel 'stem/kernel' is stored with 4 bits, but layer 'stem' declares weight_bits 3");
    const inverted = { ...meta.activations, dw_quant: { min: 1, max: -1, observedBatches: 1 } };
    await expect(
      load({ ...good, userDefinedMetadata: { qimera: { ...meta, activations: inverted } } }),
    ).rejects.toThrow("activation range of 'dw_quant' must be finite numbers with min <= max, got [1,-1]");
    const textual = { ...meta.activations, dw_quant: { min: '0', max: 4, observedBatches: 1 } };
    await expect(load({ ...good, userDefinedMetadata: { qimera: { ...meta, activations: textual } } })).rejects.toThrow(
      'got ["0",4]',
    );
    // Untouched, it loads.
    (await load(good)).dispose();
  });

  it('writes to and reads from a folder on disk, atomically', async () => {
    const q = await calibrated({ w: 4, a: 4 });
    const dir = join(mkdtempSync(join(tmpdir(), 'qimera-export-')), 'artifact');
    const report = await exportQuantized(q, dir);
    expect(statSync(join(dir, 'weights.bin')).size).toBe(report.weightBytes);
    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    expect(json.userDefinedMetadata.qimera.format).toBe('qimera-quantized');
    const loaded = await loadQuantizedModel(join(dir, 'model.json'));
    const x = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 8);
    const [a, b] = [q.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(bitsOf(b)).toEqual(bitsOf(a));
    tf.dispose([x, a, b]);

    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    await expect(exportQuantized(q, file)).rejects.toThrow('exists and is not a folder');
    await expect(loadQuantizedModel(join(dir, 'missing.json'))).rejects.toThrow('model.json not found');
    expect(existsSync(join(file, 'model.json'))).toBe(false);
  });

  it('leaves no tensor behind', async () => {
    const q = await calibrated({ w: 4, a: 4 });
    const target = memoryTarget();
    await exportQuantized(q, target.handler);
    const before = tf.memory().numTensors;
    await exportQuantized(q, target.handler);
    expect(tf.memory().numTensors).toBe(before);
    const loaded = await loadQuantizedModel(tf.io.fromMemory(target.saved()));
    expect(tf.memory().numTensors - before).toBe(loaded.weights.length);
  });
});

const resnetMissing = sharedFilesMissing(RESNET20_MODEL_JSON);
describe.skipIf(resnetMissing !== null)('ResNet-20 export (shared teacher)', () => {
  it('W4 per channel is at most 16% of the float32 weights file and loads bit-identically', async () => {
    const teacher = await loadLayersModelFromFile(RESNET20_MODEL_JSON);
    const floatFile = statSync(join(dirname(RESNET20_MODEL_JSON), 'weights.bin')).size;
    for (const foldBatchNorm of [false, true]) {
      const q = await quantizeModel(teacher, { weightBits: 4, activationBits: 4, foldBatchNorm });
      const x = tf.randomNormal([4, 32, 32, 3], 0, 1, 'float32', 2);
      await calibrateActivationRanges(q, [x]);
      const target = memoryTarget();
      const report = await exportQuantized(q, target.handler);
      expect(report.weightBytes / floatFile).toBeLessThanOrEqual(0.16);
      expect(report.batchNormLayers).toBe(foldBatchNorm ? 0 : 21);
      const loaded = await loadQuantizedModel(tf.io.fromMemory(target.saved()));
      const [a, b] = [q.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
      expect(bitsOf(b)).toEqual(bitsOf(a));
      tf.dispose([x, a, b]);
      q.dispose();
      loaded.dispose();
    }
  });
});
