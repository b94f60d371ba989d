import * as tf from '@tensorflow/tfjs-core';
import { input, type LayersModel, layers, model, type SymbolicTensor } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinyBranchy } from '../../../test-support/models.js';
import { splitIntoBatches } from '../src/index.js';
import { StagedForward } from '../src/model/staged_forward.js';

beforeAll(() => useBackend('cpu'));

/** What `net`'s `predict` gives for `target` on `images`. */
function predicted(net: LayersModel, target: SymbolicTensor, images: tf.Tensor): number[] {
  const prefix = model({ inputs: net.inputs, outputs: target });
  return tf.tidy(() => Array.from((prefix.predict(images) as tf.Tensor).dataSync()));
}

const joined = (values: tf.Tensor[]) => tf.tidy(() => Array.from(tf.concat(values).dataSync()));

describe('StagedForward', () => {
  // 7 images in batches of 3, 3 and 1.
  const images = () => tf.randomUniform([7, 9, 9, 3], -1, 1, 'float32', 5);

  it("gives each layer's output as the model's predict does, asked layer by layer in model order", () => {
    const net = tinyBranchy();
    const x = images();
    const batches = splitIntoBatches(x, 3);
    const pass = new StagedForward(net, batches);
    for (const layer of net.layers.slice(1)) {
      const expected = predicted(net, layer.output as SymbolicTensor, x);
      expect(joined(pass.valuesOf(layer.output as SymbolicTensor))).toEqual(expected);
    }
    pass.dispose();
    tf.dispose([x, ...batches]);
  });

  it('frees a value once every consumer has run, and everything on dispose, the input excepted', () => {
    const net = tinyBranchy();
    const x = images();
    const batches = splitIntoBatches(x, 3);
    const before = tf.memory().numTensors;
    const pass = new StagedForward(net, batches);
    // Up to 'sum': every value is consumed but 'skip' (the concatenation still reads it) and 'sum' itself.
    pass.valuesOf(net.getLayer('sum').output as SymbolicTensor);
    expect(tf.memory().numTensors - before).toBe(2 * batches.length);
    // At the logits only they are held.
    pass.valuesOf(net.outputs[0] as SymbolicTensor);
    expect(tf.memory().numTensors - before).toBe(batches.length);
    pass.dispose();
    expect(tf.memory().numTensors).toBe(before);
    expect(batches.every((batch) => !batch.isDisposed)).toBe(true);
    tf.dispose([x, ...batches]);
  });

  it('runs a layer with its weights as they are when the pass reaches it', () => {
    const net = tinyBranchy();
    const x = images();
    const batches = splitIntoBatches(x, 3);
    const pass = new StagedForward(net, batches);
    const pw = net.getLayer('pw');
    const before = predicted(net, pw.output as SymbolicTensor, x);
    pass.valuesOf(pw.input as SymbolicTensor);
    const [kernel, bias] = pw.getWeights() as [tf.Tensor, tf.Tensor];
    const doubled = tf.mul(kernel, 2);
    pw.setWeights([doubled, bias]);
    const after = joined(pass.valuesOf(pw.output as SymbolicTensor));
    expect(after).toEqual(predicted(net, pw.output as SymbolicTensor, x));
    expect(after).not.toEqual(before);
    pass.dispose();
    tf.dispose([x, doubled, ...batches]);
  });

  it("refuses a tensor of another model's graph, and a model with two inputs", () => {
    const net = tinyBranchy();
    const other = tinyBranchy();
    const x = images();
    const batches = splitIntoBatches(x, 7);
    const pass = new StagedForward(net, batches);
    expect(() => pass.valuesOf(other.getLayer('stem').output as SymbolicTensor)).toThrow(
      /StagedForward: tensor '.+' is not part of model 'tiny_branchy'/,
    );
    pass.dispose();
    const a = input({ shape: [2] });
    const b = input({ shape: [2] });
    const twoInputs = model({ inputs: [a, b], outputs: layers.add().apply([a, b]) as SymbolicTensor });
    expect(() => new StagedForward(twoInputs, batches)).toThrow(/must have exactly one input, has 2/);
    tf.dispose([x, ...batches]);
  });
});
