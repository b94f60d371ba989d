import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import { describeNonFinite, nonFiniteWeights } from '../src/index.js';

beforeAll(() => useBackend('cpu'));

describe('nonFiniteWeights', () => {
  it('finds every weight holding NaN or infinity, with counts, and nothing in a clean model', () => {
    const model = tinySequential();
    expect(nonFiniteWeights(model)).toEqual([]);
    const conv = model.getLayer('c1');
    const [kernel, bias] = conv.getWeights();
    const broken = tf.tidy(() => {
      const values = (kernel as tf.Tensor).dataSync().slice();
      values[0] = Number.NaN;
      values[5] = Number.NaN;
      values[7] = Number.POSITIVE_INFINITY;
      return tf.tensor(values, kernel?.shape);
    });
    const infiniteBias = tf.fill(bias?.shape as number[], Number.NEGATIVE_INFINITY);
    conv.setWeights([broken, infiniteBias]);
    const before = tf.memory().numTensors;
    const found = nonFiniteWeights(model);
    expect(tf.memory().numTensors).toBe(before);
    expect(found).toEqual([
      { layer: 'c1', weight: 'c1/kernel', nan: 2, infinite: 1 },
      { layer: 'c1', weight: 'c1/bias', nan: 0, infinite: 4 },
    ]);
    expect(describeNonFinite(found[0] as (typeof found)[number])).toBe(
      "layer 'c1' weight 'c1/kernel': 2 NaN, 1 infinite",
    );
    tf.dispose([broken, infiniteBias]);
    model.dispose();
  });
});
