import { readFile } from 'node:fs/promises';
import { parseCifar10 } from '@qimera/datasets';
import { exportQuantized, loadQuantizedModel } from '@qimera/export';
import { loadLayersModelFromFile } from '@qimera/node-io';
import { calibrateActivationRanges, quantizeModel } from '@qimera/quantizers';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import {
  CIFAR10_TEST_BATCH,
  CIFAR10_TRAIN_BATCH,
  RESNET20_MODEL_JSON,
  sharedFilesMissing,
} from '../../../test-support/shared.js';
import { IntegerModel } from '../src/index.js';

const skipReason = sharedFilesMissing(RESNET20_MODEL_JSON, CIFAR10_TEST_BATCH, CIFAR10_TRAIN_BATCH);
if (skipReason) console.warn(`ResNet-20 integer tests ${skipReason}`);

const BATCH = 250;

async function cifar(file: string, count: number) {
  const data = parseCifar10(new Uint8Array(await readFile(file)), { count });
  const batches: tf.Tensor4D[] = [];
  for (let i = 0; i < count; i += BATCH) {
    const n = Math.min(BATCH, count - i);
    batches.push(tf.tensor4d(data.images.subarray(i * 3072, (i + n) * 3072), [n, 32, 32, 3]));
  }
  return { batches, labels: data.labels };
}

const argmax = (t: tf.Tensor) => tf.tidy(() => Array.from(tf.argMax(t, -1).dataSync()));
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

describe.skipIf(skipReason !== null)('integer arithmetic on ResNet-20 / CIFAR-10 (shared)', () => {
  let teacher: LayersModel;

  beforeAll(async () => {
    await useBackend('wasm');
    teacher = await loadLayersModelFromFile(RESNET20_MODEL_JSON);
  });

  it('W4A4, BN folded, exported and loaded: integer top-1 equals fake-quantized top-1 on >= 99.5% of the 10,000 test images', async () => {
    const q = await quantizeModel(teacher, { weightBits: 4, activationBits: 4, inputBits: 8, foldBatchNorm: true });
    const calibration = await cifar(CIFAR10_TRAIN_BATCH, 1000);
    await calibrateActivationRanges(q, calibration.batches);
    tf.dispose(calibration.batches);
    let artifacts: tf.io.ModelArtifacts | undefined;
    const report = await exportQuantized(
      q,
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
      }),
    );
    expect(report.batchNormLayers).toBe(0);
    const loaded = await loadQuantizedModel(tf.io.fromMemory(artifacts as tf.io.ModelArtifacts));
    const integer = IntegerModel.fromQuantized(loaded);

    const test = await cifar(CIFAR10_TEST_BATCH, 10_000);
    // The loaded artifact computes the in-memory model's logits bit for bit (wasm here).
    const bits = (t: tf.Tensor) => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer));
    const [inMemory, reloaded] = tf.tidy(() =>
      [q, loaded].map((m) => bits(m.predict(test.batches[0] as tf.Tensor4D) as tf.Tensor)),
    );
    expect(reloaded).toEqual(inMemory);
    let agree = 0;
    let fakeCorrect = 0;
    let integerCorrect = 0;
    const started = Date.now();
    test.batches.forEach((batch, b) => {
      const fake = argmax(tf.tidy(() => loaded.predict(batch) as tf.Tensor));
      const logits = integer.predict(batch);
      const exact = argmax(logits);
      logits.dispose();
      fake.forEach((label, i) => {
        const truth = test.labels[b * BATCH + i];
        agree += label === exact[i] ? 1 : 0;
        fakeCorrect += label === truth ? 1 : 0;
        integerCorrect += exact[i] === truth ? 1 : 0;
      });
    });
    tf.dispose(test.batches);
    const n = test.labels.length;
    console.log(
      `ResNet-20 W4A4 (BN folded, 8-bit input, EMA ranges on 1,000 training images, no training): ` +
        `integer top-1 agrees with fake-quantized on ${pct(agree / n)} of ${n} test images; ` +
        `accuracy fake-quantized ${pct(fakeCorrect / n)}, integer ${pct(integerCorrect / n)} ` +
        `(${((Date.now() - started) / 1000).toFixed(0)} s for both on wasm)`,
    );
    expect(agree / n).toBeGreaterThanOrEqual(0.995);
  }, 900_000);
});
