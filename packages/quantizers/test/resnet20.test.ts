import { readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseCifar10 } from '@qimera/datasets';
import { loadLayersModelFromFile, saveLayersModelToDir } from '@qimera/node-io';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { CIFAR10_TEST_BATCH, RESNET20_MODEL_JSON, sharedFilesMissing } from '../../../test-support/shared.js';
import { activationQuantizers, calibrateActivationRanges, quantizeModel } from '../src/index.js';

const skipReason = sharedFilesMissing(RESNET20_MODEL_JSON, CIFAR10_TEST_BATCH);
if (skipReason) console.warn(`ResNet-20 quantization tests ${skipReason}`);

const BATCH = 100;

/** Records [offset, offset + count) of the CIFAR-10 test batch as NHWC tensors of BATCH images. */
async function cifarBatches(offset: number, count: number): Promise<{ batches: tf.Tensor4D[]; labels: Uint8Array }> {
  const data = parseCifar10(new Uint8Array(await readFile(CIFAR10_TEST_BATCH)), { offset, count });
  const batches: tf.Tensor4D[] = [];
  for (let i = 0; i < count; i += BATCH) {
    const n = Math.min(BATCH, count - i);
    batches.push(tf.tensor4d(data.images.subarray(i * 3072, (i + n) * 3072), [n, 32, 32, 3]));
  }
  return { batches, labels: data.labels };
}

function top1(net: LayersModel, batches: tf.Tensor4D[]): Int32Array {
  const parts = batches.map((b) => tf.tidy(() => Array.from(tf.argMax(net.predict(b) as tf.Tensor, -1).dataSync())));
  return Int32Array.from(parts.flat());
}

const agreement = (a: Int32Array, b: ArrayLike<number>) => a.filter((v, i) => v === b[i]).length / a.length;
const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

describe.skipIf(skipReason !== null)('ResNet-20 / CIFAR-10 teacher (shared)', () => {
  let teacher: LayersModel;
  let calibration: tf.Tensor4D[];
  let evaluation: tf.Tensor4D[];
  let labels: Uint8Array;
  let fpTop1: Int32Array;

  beforeAll(async () => {
    await useBackend('wasm');
    teacher = await loadLayersModelFromFile(RESNET20_MODEL_JSON);
    calibration = (await cifarBatches(0, 1000)).batches;
    ({ batches: evaluation, labels } = await cifarBatches(1000, 1000));
    fpTop1 = top1(teacher, evaluation);
  });

  it('W8A8, ranges calibrated on 1,000 test images, agrees with FP top-1 on >= 99% of 1,000 others', async () => {
    const q = await quantizeModel(teacher, { weightBits: 8, activationBits: 8 });
    expect(activationQuantizers(q)).toHaveLength(19);
    await calibrateActivationRanges(q, calibration);
    const qTop1 = top1(q, evaluation);
    const agree = agreement(qTop1, fpTop1);
    console.log(
      `ResNet-20 W8A8 (EMA ranges, 10 batches of 100): agreement with FP ${pct(agree)}, ` +
        `accuracy ${pct(agreement(qTop1, labels))} (FP ${pct(agreement(fpTop1, labels))}) on test images 1000-1999`,
    );
    expect(agree).toBeGreaterThanOrEqual(0.99);

    // The calibrated model survives a save / load through files unchanged.
    const dir = join(tmpdir(), `qimera-resnet20-w8a8-${process.pid}`);
    try {
      await saveLayersModelToDir(q, dir);
      const loaded = await loadLayersModelFromFile(join(dir, 'model.json'));
      expect(Array.from(top1(loaded, evaluation.slice(0, 2)))).toEqual(Array.from(qTop1.slice(0, 2 * BATCH)));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports W4A4 with min-max ranges and no training', async () => {
    for (const observer of ['minmax', 'ema'] as const) {
      const q = await quantizeModel(teacher, { weightBits: 4, activationBits: 4, activationObserver: observer });
      await calibrateActivationRanges(q, calibration);
      const qTop1 = top1(q, evaluation);
      console.log(
        `ResNet-20 W4A4 (${observer} ranges on 1,000 real images, no training): accuracy ${pct(agreement(qTop1, labels))}, ` +
          `agreement with FP ${pct(agreement(qTop1, fpTop1))}`,
      );
      // Far below FP, yet well above chance: the rewrite computes a real 4-bit model.
      expect(agreement(qTop1, labels)).toBeGreaterThan(0.15);
      q.dispose();
    }
  });
});
