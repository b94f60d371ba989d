import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinyBranchy } from '../../../test-support/models.js';
import {
  type ActivationQuantizer,
  activationQuantizers,
  calibrateActivationRanges,
  type QuantizedConv2D,
  type QuantizedDepthwiseConv2D,
  quantizeModel,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

async function roundTrip(net: LayersModel): Promise<{ loaded: LayersModel; json: string }> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await net.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
    }),
  );
  if (!artifacts) throw new Error('save handler was not called');
  return { loaded: await loadLayersModel(tf.io.fromMemory(artifacts)), json: JSON.stringify(artifacts.modelTopology) };
}

describe('quantized models through standard tfjs IO', () => {
  it('save and load with identical predictions, configs, ranges and frozen state', async () => {
    const q = await quantizeModel(tinyBranchy(), {
      weightBits: 4,
      activationBits: 5,
      weightScheme: 'symmetric',
      activationObserver: 'minmax',
      layers: { logits: { weightBits: 8 } },
    });
    const x = tf.randomNormal([4, 9, 9, 3], 0, 1, 'float32', 4);
    await calibrateActivationRanges(q, [x, tf.mul(x, 2)]);
    const { loaded, json } = await roundTrip(q);
    expect(json).toContain('"class_name":"QuantizedDepthwiseConv2D"');
    expect(loaded.layers.map((l) => l.getClassName())).toEqual(q.layers.map((l) => l.getClassName()));
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(
      Array.from((q.predict(x) as tf.Tensor).dataSync()),
    );
    const dw = loaded.getLayer('dw') as QuantizedDepthwiseConv2D;
    expect([dw.weightSpec, dw.depthMultiplier, dw.activation]).toEqual([{ bits: 4, scheme: 'symmetric' }, 2, 'relu6']);
    expect((loaded.getLayer('logits') as QuantizedConv2D).weightSpec.bits).toBe(8);
    const before = activationQuantizers(q).map((a) => [a.name, a.frozen, a.observer, a.spec.bits, a.rangeState()]);
    const after = activationQuantizers(loaded).map((a) => [a.name, a.frozen, a.observer, a.spec.bits, a.rangeState()]);
    expect(after).toEqual(before);
    expect(after[0]![4]).toMatchObject({ observedBatches: 2 });
  });

  it('keeps an unfrozen quantizer calibrating after loading, continuing its count', async () => {
    const q = await quantizeModel(tinyBranchy(), { weightBits: 8, activationBits: 8 });
    const x = tf.randomNormal([2, 9, 9, 3], 0, 1, 'float32', 6);
    tf.dispose(q.predict(x) as tf.Tensor);
    const { loaded } = await roundTrip(q);
    const first = activationQuantizers(loaded)[0] as ActivationQuantizer;
    expect(first.frozen).toBe(false);
    tf.dispose(loaded.predict(x) as tf.Tensor);
    expect(first.rangeState().observedBatches).toBe(2);
  });
});
