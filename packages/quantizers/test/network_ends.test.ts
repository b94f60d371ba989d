import { layers, model, type SymbolicTensor, input as symbolicInput } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinyBranchy, tinySequential } from '../../../test-support/models.js';
import {
  type ActivationQuantizer,
  activationQuantizers,
  functionalTopology,
  networkEnds,
  QuantizationError,
  QuantizedWeightLayer,
  quantizeModel,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

const sorted = (names: Set<string>) => [...names].sort();

/** Two first layers (one behind padding), the first of them straight into another conv. */
function twoStems() {
  const image = symbolicInput({ name: 'image', shape: [6, 6, 3] });
  const padded = layers.zeroPadding2d({ name: 'pad', padding: 1 }).apply(image);
  const a = layers.conv2d({ name: 'a', filters: 4, kernelSize: 3 }).apply(padded);
  const b = layers.conv2d({ name: 'b', filters: 4, kernelSize: 1, activation: 'relu' }).apply(a);
  const c = layers.conv2d({ name: 'c', filters: 4, kernelSize: 1, activation: 'relu' }).apply(image);
  const sum = layers.add({ name: 'sum' }).apply([b, c] as SymbolicTensor[]);
  const pooled = layers.globalAveragePooling2d({ name: 'gap' }).apply(sum);
  const out = layers.dense({ name: 'logits', units: 3 }).apply(pooled) as SymbolicTensor;
  return model({ name: 'two_stems', inputs: image, outputs: out });
}

describe('networkEnds', () => {
  it('finds the first and last layers of a chain and the activations next to them', () => {
    const net = tinySequential();
    const ends = networkEnds(functionalTopology(net));
    // c1 has a fused ReLU: its own output is where it is first quantized.
    expect(ends).toEqual({
      firstKernels: new Set(['c1']),
      firstActivations: new Set(['c1']),
      lastKernels: new Set(['fc']),
      lastActivations: new Set(['r1']),
    });
    net.dispose();
  });

  it('walks through padding, BN, pooling and joins, and stops at kernel layers', () => {
    const branchy = tinyBranchy();
    const ends = networkEnds(functionalTopology(branchy));
    expect(sorted(ends.firstKernels)).toEqual(['stem']);
    expect(sorted(ends.firstActivations)).toEqual(['stem_relu']);
    expect(sorted(ends.lastKernels)).toEqual(['logits']);
    // logits <- gap <- cat <- (sum_relu6, skip): skip is a kernel without a ReLU.
    expect(sorted(ends.lastActivations)).toEqual(['sum_relu6']);
    branchy.dispose();

    const stems = twoStems();
    const two = networkEnds(functionalTopology(stems));
    expect(sorted(two.firstKernels)).toEqual(['a', 'c']);
    // a's output goes straight into b, a second layer: nothing after a is a first activation.
    expect(sorted(two.firstActivations)).toEqual(['c']);
    expect(sorted(two.lastActivations)).toEqual(['b', 'c']);
    stems.dispose();
  });
});

describe('quantizeModel firstLastBits', () => {
  const bitsOf = (net: Awaited<ReturnType<typeof quantizeModel>>) => ({
    kernels: Object.fromEntries(
      net.layers.filter((l) => l instanceof QuantizedWeightLayer).map((l) => [l.name, l.weightSpec.bits]),
    ),
    activations: Object.fromEntries(activationQuantizers(net).map((q: ActivationQuantizer) => [q.name, q.spec.bits])),
  });

  it('widens the ends only; per-layer entries still win', async () => {
    const float = tinyBranchy();
    const q = await quantizeModel(float, {
      weightBits: 4,
      activationBits: 4,
      firstLastBits: 8,
      layers: { logits: { weightBits: 6 } },
    });
    expect(bitsOf(q)).toEqual({
      kernels: { stem: 8, down: 4, dw: 4, pw: 4, skip: 4, logits: 6 },
      activations: { stem_relu_quant: 8, dw_quant: 4, sum_relu6_quant: 8 },
    });
    const plain = await quantizeModel(float, { weightBits: 4, activationBits: 4 });
    expect(Object.values(bitsOf(plain).kernels).every((bits) => bits === 4)).toBe(true);
    expect(Object.values(bitsOf(plain).activations).every((bits) => bits === 4)).toBe(true);
    for (const net of [q, plain, float]) net.dispose();
  });

  it('refuses a bit width out of range, naming the option', async () => {
    const float = tinySequential();
    const attempt = quantizeModel(float, { weightBits: 4, activationBits: 4, firstLastBits: 1 });
    await expect(attempt).rejects.toThrow(QuantizationError);
    await expect(attempt).rejects.toThrow(/config\.firstLastBits/);
    float.dispose();
  });
});
