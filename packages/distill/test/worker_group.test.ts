import { SeededRandom, sampleLabels } from '@qimera/superposition';
import { describe, expect, it } from 'vitest';
import { splitLabels, weightedAverage } from '../src/worker_group.js';

describe('data-parallel helpers', () => {
  it('splits a superposed label batch into halves, the first taking the odd sample', () => {
    const labels = sampleLabels(new SeededRandom(2), {
      batchSize: 5,
      numClasses: 4,
      superposeProbability: 1,
      slots: 3,
    });
    const [a, b] = splitLabels(labels);
    expect([a.batchSize, b.batchSize]).toEqual([3, 2]);
    expect([a.slots, b.slots, a.superposed]).toEqual([3, 3, true]);
    expect([...a.classes, ...b.classes]).toEqual([...labels.classes]);
    expect([...a.coefficients, ...b.coefficients]).toEqual([...labels.coefficients]);
    expect([...a.targets, ...b.targets]).toEqual([...labels.targets]);
    expect(a.targets.length).toBe(3 * 4);
  });

  it('averages gradients weighted by batch share', () => {
    const averaged = weightedAverage(
      [
        [Float32Array.from([1, 2]), Float32Array.from([10])],
        [Float32Array.from([4, 8]), Float32Array.from([40])],
      ],
      [3, 1],
    );
    // 3/4 of the first plus 1/4 of the second.
    expect(averaged.map((g) => Array.from(g))).toEqual([[1.75, 3.5], [17.5]]);
  });
});
