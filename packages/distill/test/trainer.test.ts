import { createDisentanglementMapping } from '@qimera/disentangle';
import { createGenerator } from '@qimera/generator';
import {
  activationQuantizers,
  calibrateActivationRanges,
  freezeActivationRanges,
  quantizeModel,
} from '@qimera/quantizers';
import { ClassEmbedding } from '@qimera/superposition';
import { registerCpuKernelFixes } from '@qimera/wasm-training';
import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, layers, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import {
  type DistillCheckpoint,
  type DistillOptions,
  type DistillProgress,
  distill,
  type ImageSource,
} from '../src/index.js';

beforeAll(async () => {
  await useBackend('cpu');
  // The fix a worker replica registers on cpu: both threads must run the same kernels.
  registerCpuKernelFixes();
});

/** A tiny teacher (8x8x3 -> 5 classes) and everything distill needs, from one seed. */
async function setup(seed = 3): Promise<DistillOptions & { dispose: () => void }> {
  const teacher = tinySequential();
  const student = await quantizeModel(teacher, { weightBits: 4, activationBits: 4 });
  const generator = createGenerator({ imageSize: 8, channels: 3, inputDim: 6, baseChannels: 8, seed });
  const embedding = ClassEmbedding.random(5, 4, { seed });
  const mapping = createDisentanglementMapping({ latentDim: 4, intermediateDim: 6, seed });
  return {
    teacher,
    student,
    generator,
    embedding,
    mapping,
    iterations: 6,
    iterationsPerEpoch: 2,
    warmupEpochs: 1,
    batchSize: 8,
    seed,
    dispose: () => {
      for (const m of [teacher, student, generator, mapping] as LayersModel[]) m.dispose();
      embedding.dispose();
    },
  };
}

/** {@link setup} for image-source runs: the generator parts are disposed, not passed. */
async function setupForImages(seed = 3) {
  const { generator, embedding, mapping, dispose: _all, ...run } = await setup(seed);
  generator?.dispose();
  embedding?.dispose();
  mapping?.dispose();
  return {
    ...run,
    dispose: () => {
      run.teacher.dispose();
      run.student.dispose();
    },
  };
}

/** One-hot targets over the tiny teacher's 5 classes, `labels.length * 5` values. */
const oneHot = (labels: number[]) =>
  Float32Array.from({ length: labels.length * 5 }, (_, k) => (k % 5 === labels[Math.floor(k / 5)] ? 1 : 0));

const weightsOf = (m: LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));

/** Weights equal up to float summation order: relative 2e-4. */
function expectSameWeights(actual: number[][], expected: number[][]): void {
  actual.forEach((w, i) =>
    w.forEach((v, j) => {
      const reference = (expected[i] as number[])[j] as number;
      expect(Math.abs(v - reference)).toBeLessThanOrEqual(2e-4 * Math.max(1, Math.abs(reference)));
    }),
  );
}

describe('distill', () => {
  it('warms up (calibration only), freezes ranges, then trains the student; reports every iteration', async () => {
    const run = await setup();
    const studentBefore = weightsOf(run.student);
    const progress: DistillProgress[] = [];
    const result = await distill({ ...run, onProgress: (p) => progress.push(p) });
    expect(result).toMatchObject({ iterations: 6, aborted: false });
    expect(progress.map((p) => [p.iteration, p.epoch, p.phase])).toEqual([
      [1, 0, 'warmup'],
      [2, 0, 'warmup'],
      [3, 1, 'distill'],
      [4, 1, 'distill'],
      [5, 2, 'distill'],
      [6, 2, 'distill'],
    ]);
    for (const p of progress) {
      expect(Number.isFinite(p.losses.generator)).toBe(true);
      expect(p.losses.generator).toBeCloseTo((p.losses.crossEntropy as number) + 0.1 * (p.losses.bns as number), 4);
      expect(p.teacherAccuracy).toBeGreaterThanOrEqual(0);
      expect(p.teacherAccuracy).toBeLessThanOrEqual(1);
      expect(p.etaMs).toBeGreaterThanOrEqual(0);
      if (p.phase === 'warmup') expect(p.losses.student).toBeUndefined();
      else expect(p.losses.student).toBeCloseTo((p.losses.kd as number) + (p.losses.studentCrossEntropy as number), 4);
    }
    expect(progress[5]?.etaMs).toBe(0);
    for (const q of activationQuantizers(run.student)) {
      expect(q.frozen).toBe(true);
      expect(q.rangeState().observedBatches).toBe(2); // the two warm-up iterations only
    }
    expect(weightsOf(run.student)).not.toEqual(studentBefore);
    // The teacher never changes.
    const teacherBefore = weightsOf(run.teacher);
    await distill({ ...run, iterations: 1, warmupEpochs: 0 });
    expect(weightsOf(run.teacher)).toEqual(teacherBefore);
    run.dispose();
  });

  it('is reproducible for a seed', async () => {
    const losses = async (seed: number) => {
      const run = await setup();
      const seen: number[] = [];
      await distill({ ...run, seed, onProgress: (p) => seen.push(p.losses.generator ?? -1, p.losses.student ?? -1) });
      const weights = weightsOf(run.student);
      run.dispose();
      return { seen, weights };
    };
    const a = await losses(11);
    const b = await losses(11);
    const c = await losses(12);
    expect(b).toEqual(a);
    expect(c.seen).not.toEqual(a.seen);
  });

  it('stops cleanly on abort, leaving a usable (frozen) student', async () => {
    const run = await setup();
    const controller = new AbortController();
    const result = await distill({
      ...run,
      iterations: 50,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.iteration === 1) controller.abort();
      },
    });
    expect(result).toMatchObject({ iterations: 1, aborted: true });
    expect(activationQuantizers(run.student).every((q) => q.frozen)).toBe(true);
    const out = run.student.predict(tf.randomNormal([2, 8, 8, 3])) as tf.Tensor;
    expect(out.shape).toEqual([2, 5]);
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    run.dispose();
  });

  it('does not leak tensors between iterations 2 and 6', async () => {
    const run = await setup();
    const counts: number[] = [];
    // No warm-up: the optimisers create their slot variables at the first step of each.
    await distill({ ...run, iterations: 8, warmupEpochs: 0, onProgress: () => counts.push(tf.memory().numTensors) });
    expect(counts[5]).toBe(counts[1]);
    // Likewise across the switch to superposed batches, under the cosine schedule.
    const switched: number[] = [];
    await distill({
      ...run,
      iterations: 8,
      warmupEpochs: 0,
      superposeProbability: 1,
      superposeAfter: 3,
      studentLrSchedule: 'cosine',
      onProgress: () => switched.push(tf.memory().numTensors),
    });
    expect(switched[6]).toBe(switched[1]);
    run.dispose();
  });

  it('applies the learning-rate schedule to the student (momentum SGD) and the generator (Adam)', async () => {
    const run = await setup();
    const snapshots: { student: number[][]; generator: number[][] }[] = [];
    // Both rates drop to 0 at epoch 2 (iterations 5 and 6): from then on nothing moves.
    await distill({
      ...run,
      lrMilestones: [2],
      lrGamma: 0,
      onProgress: () =>
        snapshots.push({ student: weightsOf(run.student), generator: weightsOf(run.generator as LayersModel) }),
    });
    expect(snapshots[3]?.student).not.toEqual(snapshots[2]?.student); // epoch 1 trains
    expect(snapshots[4]?.student).toEqual(snapshots[3]?.student);
    expect(snapshots[5]?.student).toEqual(snapshots[3]?.student);
    expect(snapshots[3]?.generator).not.toEqual(snapshots[2]?.generator);
    expect(snapshots[5]?.generator.slice(0, 4)).toEqual(snapshots[3]?.generator.slice(0, 4));
    run.dispose();
  });

  it('decays the student rate on a cosine from the first student step, reports and applies it', async () => {
    // Fresh models per run: the generator, embedding and mapping train too.
    const trace = async (studentLrSchedule: 'step' | 'cosine') => {
      const run = await setup();
      const progress: { rates: DistillProgress['learningRates']; weights: number[][] }[] = [];
      await distill({
        ...run,
        studentLearningRate: 0.01,
        studentLrSchedule,
        onProgress: (p) => progress.push({ rates: p.learningRates, weights: weightsOf(run.student) }),
      });
      run.dispose();
      return progress;
    };
    const cosine = await trace('cosine');
    // Iterations 3-6 are the 4 student steps: 0.01 · (1 + cos(π·k/4)) / 2, k = 0..3.
    const expected = [0, 1, 2, 3].map((k) => (0.01 * (1 + Math.cos((Math.PI * k) / 4))) / 2);
    expect(cosine.slice(0, 2).map((p) => p.rates.student)).toEqual([undefined, undefined]);
    cosine.slice(2).forEach((p, k) => expect(p.rates.student).toBeCloseTo(expected[k] as number, 12));
    expect(cosine.map((p) => p.rates.generator)).toEqual(Array(6).fill(1e-3));
    const step = await trace('step');
    expect(step.slice(2).map((p) => p.rates.student)).toEqual(Array(4).fill(0.01));
    // The same first student step (same rate, same images), then the rates part.
    expect(cosine[2]?.weights).toEqual(step[2]?.weights);
    expect(cosine[3]?.weights).not.toEqual(step[3]?.weights);
  });

  it('draws only plain batches for the first superposeAfter iterations', async () => {
    const run = await setup();
    const superposed: boolean[] = [];
    await distill({
      ...run,
      superposeProbability: 1,
      superposeAfter: 3,
      onProgress: (p) => superposed.push(p.superposed),
    });
    expect(superposed).toEqual([false, false, false, true, true, true]);
    run.dispose();
  });

  it('trains gdfq style (no superposition, no mapping) and rejects bad options by name', async () => {
    const run = await setup();
    const generator = createGenerator({ imageSize: 8, channels: 3, inputDim: 4, baseChannels: 8 });
    const result = await distill({ ...run, generator, mapping: null, superposeProbability: 0, iterations: 3 });
    expect(result.iterations).toBe(3);
    await expect(distill({ ...run, batchSize: 0 })).rejects.toThrow(
      /distill: batchSize must be a positive integer, got 0/,
    );
    await expect(distill({ ...run, temperature: -1 })).rejects.toThrow(
      /distill: temperature must be a finite number > 0, got -1/,
    );
    await expect(distill({ ...run, bnsWeight: Number.NaN })).rejects.toThrow(
      /distill: bnsWeight must be a finite number >= 0, got NaN/,
    );
    await expect(distill({ ...run, superposeAfter: -1 })).rejects.toThrow(
      /distill: superposeAfter must be a non-negative integer, got -1/,
    );
    await expect(distill({ ...run, studentLrSchedule: 'linear' as 'step' })).rejects.toThrow(
      /distill: studentLrSchedule must be 'step' or 'cosine', got "linear"/,
    );
    generator.dispose();
    run.dispose();
  });
});

describe('distill with two worker threads', () => {
  it('trains in step: warm-up then distill, consistent losses, frozen student, no leak on the main thread', async () => {
    const run = await setup();
    const counts: number[] = [];
    const progress: DistillProgress[] = [];
    const result = await distill({
      ...run,
      workers: 2,
      iterations: 8,
      onProgress: (p) => {
        progress.push(p);
        counts.push(tf.memory().numTensors);
      },
    });
    expect(result).toMatchObject({ iterations: 8, aborted: false });
    expect(progress.map((p) => p.phase)).toEqual(['warmup', 'warmup', ...Array(6).fill('distill')]);
    for (const p of progress.slice(2)) {
      expect(p.losses.student).toBeCloseTo((p.losses.kd as number) + (p.losses.studentCrossEntropy as number), 4);
    }
    expect(counts[7]).toBe(counts[3]);
    expect(activationQuantizers(run.student).every((q) => q.frozen)).toBe(true);
    run.dispose();
  });

  it('gives the same result as one thread when each half sees the same data (batch of identical labels)', async () => {
    // With superposition off, one class and no noise, both halves see identical inputs,
    // so the averaged gradient equals either half's: one and two threads must agree.
    const outcome = async (workers: number) => {
      const run = await setup(4);
      const embedding = ClassEmbedding.random(1, 4, { seed: 4 });
      const result = await distill({
        ...run,
        embedding,
        workers,
        superposeProbability: 0,
        noiseScale: 0,
        iterations: 4,
      });
      const weights = weightsOf(run.student).map((w) => w.slice(0, 5));
      embedding.dispose();
      run.dispose();
      return { iterations: result.iterations, weights };
    };
    const single = await outcome(1);
    const double = await outcome(2);
    expect(double.iterations).toBe(single.iterations);
    // Equal up to float summation order (half batches).
    expectSameWeights(double.weights, single.weights);
  });

  it('stops on abort and reports a worker failure instead of hanging', async () => {
    const run = await setup();
    const controller = new AbortController();
    const aborted = await distill({
      ...run,
      workers: 2,
      iterations: 50,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    expect(aborted).toMatchObject({ iterations: 1, aborted: true });
    // A mapping with a layer class only this thread knows: the worker cannot rebuild it.
    class MainThreadOnly extends layers.Layer {
      static className = 'MainThreadOnlyForTest';
      override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
        return Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      }
    }
    tf.serialization.registerClass(MainThreadOnly);
    const mapping = sequential({ layers: [new MainThreadOnly({ inputShape: [4] }), layers.dense({ units: 6 })] });
    await expect(distill({ ...run, mapping, workers: 2, iterations: 2 })).rejects.toThrow(
      /distill worker: .*MainThreadOnlyForTest/s,
    );
    run.dispose();
  });

  it('rejects bad worker counts', async () => {
    const run = await setup();
    await expect(distill({ ...run, workers: 3 })).rejects.toThrow(/workers must be 1 or 2, got 3/);
    run.dispose();
  });

  it('distils on an image source instead of a generator: same schedule, no generator losses', async () => {
    const { dispose, ...run } = await setupForImages();
    const requested: [number, number][] = [];
    // Fixed "real" images: class c is a constant image of brightness c.
    const images: ImageSource = (iteration, batchSize) => {
      requested.push([iteration, batchSize]);
      const labels = Array.from({ length: batchSize }, (_, i) => (i + iteration) % 5);
      return {
        images: Float32Array.from({ length: batchSize * 192 }, (_, k) => (labels[Math.floor(k / 192)] as number) / 5),
        targets: oneHot(labels),
      };
    };
    const before = weightsOf(run.student);
    const progress: DistillProgress[] = [];
    const result = await distill({ ...run, images, onProgress: (p) => progress.push(p) });
    expect(result.iterations).toBe(6);
    expect(requested).toEqual([0, 1, 2, 3, 4, 5].map((i) => [i, 8]));
    expect(progress.map((p) => p.phase)).toEqual(['warmup', 'warmup', 'distill', 'distill', 'distill', 'distill']);
    for (const p of progress) {
      expect(p.losses.generator).toBeUndefined();
      expect(p.superposed).toBe(false);
      if (p.phase === 'distill') expect(Number.isFinite(p.losses.student)).toBe(true);
    }
    expect(activationQuantizers(run.student).every((q) => q.frozen && q.rangeState().observedBatches === 2)).toBe(true);
    expect(weightsOf(run.student)).not.toEqual(before);

    const wrong: ImageSource = () => ({ images: new Float32Array(10), targets: new Float32Array(40) });
    await expect(distill({ ...run, images: wrong })).rejects.toThrow(
      'distill: the image source gave 10 image values, expected 8 x [8,8,3] = 1536',
    );
    await expect(distill(run)).rejects.toThrow(
      'distill: give a generator and an embedding, or an image source (images)',
    );
    dispose();
  });

  it('does not leak tensors across image-source iterations', async () => {
    const { dispose, ...run } = await setupForImages();
    const images: ImageSource = (_, n) => ({
      images: new Float32Array(n * 192).fill(0.5),
      targets: oneHot(new Array(n).fill(0)),
    });
    const counts: number[] = [];
    await distill({
      ...run,
      images,
      iterations: 8,
      warmupEpochs: 0,
      onProgress: () => counts.push(tf.memory().numTensors),
    });
    expect(counts[5]).toBe(counts[1]);
    dispose();
  });

  it('splits image-source batches over two workers like generated ones: same result as one thread', async () => {
    // Both halves of every batch hold the same images, so the ranges the main thread
    // calibrates on its half are the full batch's: one and two threads must agree.
    const images: ImageSource = (iteration, n) => {
      const half = Array.from({ length: n / 2 }, (_, i) => (i + iteration) % 5);
      const labels = [...half, ...half];
      return {
        images: Float32Array.from(
          { length: n * 192 },
          (_, k) => ((labels[Math.floor(k / 192)] as number) + (k % 7)) / 9,
        ),
        targets: oneHot(labels),
      };
    };
    const outcome = async (workers: number) => {
      const { dispose, ...run } = await setupForImages(5);
      const seen: number[] = [];
      await distill({ ...run, images, workers, iterations: 5, onProgress: (p) => seen.push(p.teacherAccuracy) });
      const weights = weightsOf(run.student).map((w) => w.slice(0, 5));
      dispose();
      return { seen, weights };
    };
    const single = await outcome(1);
    const double = await outcome(2);
    expect(double.seen).toEqual(single.seen);
    expectSameWeights(double.weights, single.weights);
  });
});

describe('distill in micro-batches (gradient accumulation)', () => {
  it('gives the student the whole batch gradient: the same weights as one pass', async () => {
    const images: ImageSource = (iteration, n) => {
      const labels = Array.from({ length: n }, (_, i) => (i * 3 + iteration) % 5);
      return {
        images: Float32Array.from(
          { length: n * 192 },
          (_, k) => ((labels[Math.floor(k / 192)] as number) + (k % 5)) / 9,
        ),
        targets: oneHot(labels),
      };
    };
    const outcome = async (microBatchSize?: number) => {
      const { dispose, ...run } = await setupForImages(5);
      // Ranges frozen beforehand: calibration, unlike gradients, would see each pass alone.
      const calibration = tf.tensor4d(images(99, 8).images, [8, 8, 8, 3]);
      await calibrateActivationRanges(run.student, [calibration]);
      calibration.dispose();
      freezeActivationRanges(run.student);
      const passes = vi.spyOn(run.student, 'apply');
      const counts: number[] = [];
      const losses: number[] = [];
      await distill({
        ...run,
        images,
        warmupEpochs: 0,
        iterations: 5,
        ...(microBatchSize !== undefined ? { microBatchSize } : {}),
        onProgress: (p) => {
          counts.push(tf.memory().numTensors);
          losses.push(p.losses.student as number);
        },
      });
      const weights = weightsOf(run.student);
      dispose();
      return { weights, losses, counts, passes: passes.mock.calls.length };
    };
    const whole = await outcome();
    // Batch 8 in passes of 3, 3 and 2.
    const parts = await outcome(3);
    expect([whole.passes, parts.passes]).toEqual([5, 15]);
    expectSameWeights(parts.weights, whole.weights);
    parts.losses.forEach((loss, i) => expect(loss).toBeCloseTo(whole.losses[i] as number, 5));
    expect(parts.counts[4]).toBe(parts.counts[1]);
    await expect(outcome(0)).rejects.toThrow('distill: microBatchSize must be a positive integer, got 0');
  });

  it('trains the generator in micro-batches on one thread and on two, leaking nothing', async () => {
    for (const workers of [1, 2]) {
      const { dispose, ...run } = await setup();
      const counts: number[] = [];
      const progress: DistillProgress[] = [];
      await distill({
        ...run,
        workers,
        microBatchSize: 3,
        iterations: 5,
        onProgress: (p) => {
          counts.push(tf.memory().numTensors);
          progress.push(p);
        },
      });
      expect(counts[4]).toBe(counts[2]);
      for (const p of progress) expect(Number.isFinite(p.losses.generator)).toBe(true);
      expect(progress.at(-1)?.phase).toBe('distill');
      dispose();
    }
  });
});

describe('distill with a time budget', () => {
  it('lays warm-up, superposition and the cosine rate over the clock, and stops when the time is spent', async () => {
    const run = await setup();
    const progress: DistillProgress[] = [];
    const budget = 1500;
    const started = Date.now();
    const result = await distill({
      ...run,
      iterations: 1_000_000,
      timeBudgetMs: budget,
      warmupFraction: 0.3,
      superposeFraction: 0.6,
      superposeProbability: 1,
      studentLrSchedule: 'cosine',
      studentLearningRate: 0.01,
      onProgress: (p) => progress.push(p),
    });
    const took = Date.now() - started;
    // Stopped by the clock, not the iteration cap, and that is not an abort.
    expect(result.aborted).toBe(false);
    expect(result.iterations).toBe(progress.length);
    expect(took).toBeGreaterThanOrEqual(budget);
    expect(took).toBeLessThan(budget + 2000);
    const phases = progress.map((p) => p.phase);
    const firstDistill = phases.indexOf('distill');
    expect(firstDistill).toBeGreaterThan(0);
    expect(phases.slice(firstDistill).every((p) => p === 'distill')).toBe(true);
    // Each iteration's state follows the share of time spent when it began (elapsedMs is when it ended).
    progress.forEach((p, i) => {
      const beganAt = i === 0 ? 0 : (progress[i - 1] as DistillProgress).elapsedMs;
      if (p.phase === 'warmup') expect(beganAt).toBeLessThan(0.3 * budget + 1);
      else expect(p.elapsedMs).toBeGreaterThanOrEqual(0.3 * budget);
      if (p.superposed) expect(p.elapsedMs).toBeGreaterThanOrEqual(0.6 * budget);
      expect(p.etaMs).toBe(Math.max(0, budget - p.elapsedMs));
    });
    expect(progress.some((p) => p.superposed)).toBe(true);
    const rates = progress.filter((p) => p.phase === 'distill').map((p) => p.learningRates.student as number);
    expect(rates.length).toBeGreaterThan(1);
    for (let i = 1; i < rates.length; i++) expect(rates[i] as number).toBeLessThanOrEqual(rates[i - 1] as number);
    expect(rates[0] as number).toBeLessThanOrEqual(0.01);
    await expect(distill({ ...run, timeBudgetMs: -5 })).rejects.toThrow(
      'distill: timeBudgetMs must be a positive number, got -5',
    );
    await expect(distill({ ...run, timeBudgetMs: 10, warmupFraction: 1 })).rejects.toThrow(
      'distill: warmupFraction must be in [0, 1), got 1',
    );
    run.dispose();
  });
});

describe('distill checkpoints', () => {
  /** A run's end state: every weight of student, generator, mapping and embedding. */
  const endState = (run: Awaited<ReturnType<typeof setup>>) => ({
    student: weightsOf(run.student),
    generator: weightsOf(run.generator as LayersModel),
    mapping: weightsOf(run.mapping as LayersModel),
    embedding: Array.from(run.embedding?.table.dataSync() ?? []),
  });

  /** Runs 7 iterations, stopping after `stopAt` with a checkpoint; then resumes on fresh models. */
  async function stoppedAndResumed(stopAt: number, workers: number) {
    const first = await setup();
    const controller = new AbortController();
    const saved: DistillCheckpoint[] = [];
    const stopped = await distill({
      ...first,
      workers,
      iterations: 7,
      signal: controller.signal,
      checkpoint: {
        everyIterations: stopAt,
        save: (checkpoint) => {
          saved.push(checkpoint);
          controller.abort();
        },
      },
    });
    first.dispose();
    expect(stopped.iterations).toBe(stopAt);
    expect(saved.map((c) => c.iteration)).toEqual([stopAt]);
    const second = await setup();
    const progress: number[] = [];
    const resumed = await distill({
      ...second,
      workers,
      iterations: 7,
      resumeFrom: saved[0],
      onProgress: (p) => progress.push(p.iteration),
    });
    expect(resumed).toMatchObject({ iterations: 7, aborted: false });
    expect(progress[0]).toBe(stopAt + 1);
    const state = endState(second);
    second.dispose();
    return state;
  }

  it('a run resumed from a checkpoint ends with the weights of one never stopped, bit for bit', async () => {
    for (const workers of [1, 2]) {
      const never = await setup();
      await distill({ ...never, workers, iterations: 7 });
      const expected = endState(never);
      never.dispose();
      // At the end of warm-up (ranges not frozen yet) and after they froze (iteration 3);
      // Adam's beta2^t by multiplication and by pow differ in float32 at t = 2 and 5.
      for (const stopAt of [2, 5])
        expect(await stoppedAndResumed(stopAt, workers), `${workers} ${stopAt}`).toEqual(expected);
    }
  });

  it('saves every N iterations and when the run ends, and leaks nothing', async () => {
    const saved: DistillCheckpoint[] = [];
    const save = (checkpoint: DistillCheckpoint) => void saved.push(checkpoint);
    const warm = await setup();
    await distill({ ...warm, iterations: 3, checkpoint: { save } });
    warm.dispose();
    const run = await setup();
    const before = tf.memory().numTensors;
    await distill({ ...run, iterations: 5, checkpoint: { everyIterations: 2, save } });
    expect(tf.memory().numTensors).toBe(before);
    expect(saved.map((c) => [c.iteration, c.rangesFrozen])).toEqual([
      [3, true],
      [2, false],
      [4, true],
      [5, true],
    ]);
    const last = saved[3] as DistillCheckpoint;
    expect(last.models.student.map((t) => t.name)).toEqual(run.student.weights.map((w) => w.originalName));
    expect(last.optimizers.generator.adamPowers?.[0]).toBeCloseTo(0.5 ** 6, 6);
    run.dispose();
  });

  it('refuses checkpoints that do not fit the models or the format, naming the part', async () => {
    const run = await setup();
    let checkpoint: DistillCheckpoint | undefined;
    await distill({
      ...run,
      iterations: 1,
      checkpoint: {
        save: (c) => {
          checkpoint = c;
        },
      },
    });
    const saved = checkpoint as DistillCheckpoint;
    const other = createGenerator({ imageSize: 8, channels: 3, inputDim: 6, baseChannels: 4, seed: 3 });
    const before = tf.memory().numTensors;
    const studentBefore = weightsOf(run.student);
    // A student part that would change the student if it were written.
    const shifted = structuredClone(saved);
    const first = shifted.models.student[0] as (typeof shifted.models.student)[number];
    first.values = first.values.map((v) => v + 1);
    await expect(distill({ ...run, generator: other, iterations: 2, resumeFrom: shifted })).rejects.toThrow(
      /the checkpoint's generator weight \d+ is '.*' \[.*\], this run's is/,
    );
    // Checked whole before anything is written: the student was not touched.
    expect(weightsOf(run.student)).toEqual(studentBefore);
    await expect(
      distill({ ...run, iterations: 2, resumeFrom: { ...saved, version: 9 } as DistillCheckpoint }),
    ).rejects.toThrow('resumeFrom has checkpoint version 9; this version reads 1');
    await expect(
      distill({ ...run, iterations: 2, checkpoint: { everyIterations: 0, save: () => {} } }),
    ).rejects.toThrow('checkpoint.everyIterations must be a positive integer, got 0');
    expect(tf.memory().numTensors, 'a refused resume leaked tensors').toBe(before);
    other.dispose();
    run.dispose();
  });
});
