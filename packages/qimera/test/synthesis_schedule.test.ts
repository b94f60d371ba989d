import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { synthesizeBefore } from '../src/synthesis_schedule.js';

beforeAll(() => useBackend('cpu'));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A stand-in for synthesis: batch [from, to) takes `msFor(from)` ms (or until its signal
 * aborts), then gives `to - from` images filled with `from`. Records what ran.
 */
function fakeSynthesis(msFor: (from: number) => number) {
  const log = { started: [] as number[], aborted: [] as number[], concurrent: 0, maxConcurrent: 0 };
  const synthesize = async (from: number, to: number, signal: AbortSignal) => {
    log.started.push(from);
    log.maxConcurrent = Math.max(log.maxConcurrent, ++log.concurrent);
    const ends = Date.now() + msFor(from);
    while (Date.now() < ends && !signal.aborted) await sleep(2);
    if (signal.aborted) log.aborted.push(from);
    log.concurrent--;
    return tf.fill([to - from, 1], from);
  };
  return { log, synthesize };
}

const firstValues = (parts: tf.Tensor[]) => parts.map((part) => part.dataSync()[0] as number);

describe('synthesizeBefore', () => {
  it('without an end, makes every batch in order, as many at once as there are threads', async () => {
    const before = tf.memory().numTensors;
    const { log, synthesize } = fakeSynthesis((from) => (from === 4 ? 60 : 10));
    const plan = { first: 4, total: 14, batchSize: 3, end: Number.POSITIVE_INFINITY, signal: undefined };
    const parts = await synthesizeBefore(2, synthesize, plan);
    expect(firstValues(parts)).toEqual([0, 4, 7, 10, 13]);
    expect(parts.map((part) => part.shape[0])).toEqual([4, 3, 3, 3, 1]);
    expect(log.maxConcurrent).toBe(2);
    tf.dispose(parts);
    const alone = fakeSynthesis(() => 5);
    const one = await synthesizeBefore(1, alone.synthesize, plan);
    expect(alone.log.maxConcurrent).toBe(1);
    tf.dispose(one);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('stops and leaves out a batch a free thread started before the timing showed it would end too late', async () => {
    const before = tf.memory().numTensors;
    // The first batch takes 150 ms for 8 images; the second, started with it, is still running then.
    const { log, synthesize } = fakeSynthesis((from) => (from === 0 ? 150 : 2000));
    const parts = await synthesizeBefore(2, synthesize, {
      first: 8,
      total: 24,
      batchSize: 8,
      end: Date.now() + 60,
      signal: undefined,
    });
    expect(log.started).toEqual([0, 8]);
    expect(log.aborted).toEqual([8]);
    expect(firstValues(parts)).toEqual([0]);
    tf.dispose(parts);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('keeps a batch that ended before the timing was known, and starts none once the end has passed', async () => {
    const quick = fakeSynthesis((from) => (from === 0 ? 150 : 5));
    const kept = await synthesizeBefore(2, quick.synthesize, {
      first: 8,
      total: 16,
      batchSize: 8,
      end: Date.now() + 60,
      signal: undefined,
    });
    expect(firstValues(kept)).toEqual([0, 8]);
    expect(quick.log.aborted).toEqual([]);
    tf.dispose(kept);
    const spent = fakeSynthesis(() => 5);
    const alone = await synthesizeBefore(2, spent.synthesize, {
      first: 8,
      total: 24,
      batchSize: 8,
      end: Date.now(),
      signal: undefined,
    });
    expect(spent.log.started).toEqual([0]);
    tf.dispose(alone);
  });

  it('starts nothing after an abort; a failure stops the other batches, disposes what was made and rethrows', async () => {
    const before = tf.memory().numTensors;
    const stop = new AbortController();
    const { log, synthesize } = fakeSynthesis(() => 20);
    stop.abort();
    const parts = await synthesizeBefore(2, synthesize, {
      first: 4,
      total: 12,
      batchSize: 4,
      end: Number.POSITIVE_INFINITY,
      signal: stop.signal,
    });
    expect(log.started).toEqual([0]);
    tf.dispose(parts);
    // Batch 4 would run for 5 s: the failure of batch 8 stops it.
    const failing = fakeSynthesis((from) => (from === 4 ? 5000 : 10));
    const started = Date.now();
    const broken = async (from: number, to: number, signal: AbortSignal) => {
      if (from === 8) throw new Error('synthesis worker: out of memory');
      return failing.synthesize(from, to, signal);
    };
    await expect(
      synthesizeBefore(2, broken, {
        first: 4,
        total: 16,
        batchSize: 4,
        end: Number.POSITIVE_INFINITY,
        signal: undefined,
      }),
    ).rejects.toThrow('synthesis worker: out of memory');
    expect(failing.log.aborted).toEqual([4]);
    expect(Date.now() - started).toBeLessThan(4000);
    expect(tf.memory().numTensors).toBe(before);
  });
});
