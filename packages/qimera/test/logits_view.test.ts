import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import { logitsView, withSoftmax } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

const x = () => tf.randomNormal([6, 8, 8, 3], 0, 1, 'float32', 4);
const predicted = (net: LayersModel, input: tf.Tensor) =>
  tf.tidy(() => Array.from((net.predict(input) as tf.Tensor).dataSync()));
const close = (values: number[]) => values.map((v) => expect.closeTo(v, 5));
const names = (net: LayersModel) => net.layers.filter((l) => l.getClassName() !== 'InputLayer').map((l) => l.name);

describe('logitsView', () => {
  it('takes a softmax the last Dense layer applies out of a copy, leaving the model as it was', async () => {
    const teacher = tinySequential('fused');
    const plain = tinySequential();
    const input = x();
    const probabilities = predicted(teacher, input);
    const before = tf.memory().numTensors;
    const view = await logitsView(teacher);
    expect(view.softmaxName).toBe('fc_softmax');
    expect(predicted(view.logits, input)).toEqual(close(predicted(plain, input)));
    // The model's own graph gained no node, and it still gives probabilities.
    expect(teacher.getLayer('drop').outboundNodes).toHaveLength(1);
    view.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(predicted(teacher, input)).toEqual(probabilities);
    // The plain model is the fused one's logits: with the softmax put back, the fused one's output.
    const restored = withSoftmax(plain, 'fc_softmax');
    expect(predicted(restored, input)).toEqual(close(probabilities));
    expect(restored.layers.at(-1)?.name).toBe('fc_softmax');
    tf.dispose(input);
  });

  it('cuts a softmax layer off, sharing the layers, and puts it back under its name', async () => {
    const teacher = tinySequential('layer');
    const plain = tinySequential();
    const input = x();
    const before = tf.memory().numTensors;
    const view = await logitsView(teacher);
    expect(tf.memory().numTensors).toBe(before);
    expect(view.softmaxName).toBe('probs');
    expect(names(view.logits)).toEqual(names(teacher).slice(0, -1));
    expect(predicted(view.logits, input)).toEqual(close(predicted(plain, input)));
    const restored = withSoftmax(view.logits, 'probs');
    expect(names(restored)).toEqual(names(teacher));
    expect(predicted(restored, input)).toEqual(close(predicted(teacher, input)));
    view.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(input);
  });

  it('leaves a model that outputs logits as it is', async () => {
    const teacher = tinySequential();
    const view = await logitsView(teacher);
    expect(view.logits).toBe(teacher);
    expect(view.softmaxName).toBeNull();
  });
});
