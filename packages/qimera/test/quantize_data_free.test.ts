import * as tf from '@tensorflow/tfjs-core';
import { type LayersModel, layers, sequential } from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import {
  activationQuantizers,
  calibrateStart,
  type DistillProgress,
  defaultGenerationSize,
  exportQuantized,
  FidelitySet,
  loadQuantizedModel,
  methodDefaults,
  quantizeDataFree,
  quantizeModel,
  type SamplePreview,
  TrainingDivergedError,
  useFastestBackend,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

const small = {
  backend: 'current',
  batchSize: 8,
  iterations: 4,
  iterationsPerEpoch: 2,
  warmupEpochs: 1,
  generator: { baseChannels: 8 },
  calibrationImages: 16,
  fidelityImages: 16,
  synthesisSteps: 5,
};

describe('quantizeDataFree', () => {
  it("runs 'qimera' end to end on a tiny model: a frozen, usable student and a full report", async () => {
    const teacher = tinySequential();
    const progress: DistillProgress[] = [];
    const { model, report } = await quantizeDataFree(teacher, {
      weightBits: 4,
      activationBits: 4,
      ...small,
      onProgress: (p) => progress.push(p),
    });
    expect(progress.map((p) => p.phase)).toEqual(['warmup', 'warmup', 'distill', 'distill']);
    expect(report).toMatchObject({
      method: 'qimera',
      weightBits: 4,
      activationBits: 4,
      iterations: 4,
      aborted: false,
      backend: 'cpu',
    });
    expect(report.settings).toMatchObject({
      slots: 2,
      latentDim: 64,
      mapping: true,
      intermediateDim: 100,
      superposeProbability: 0.4,
      batchSize: 8,
      temperature: 20,
      generator: { baseChannels: 8, bnEpsilon: 0.8 },
    });
    expect(report.finalLosses?.student).toBeGreaterThan(0);
    expect(activationQuantizers(model).every((q) => q.frozen)).toBe(true);
    expect((model.predict(tf.randomNormal([2, 8, 8, 3])) as tf.Tensor).shape).toEqual([2, 5]);
    expect(teacher.getLayer('c1').getClassName()).toBe('Conv2D');
  });

  it('hands the trained generator, embedding and mapping over with keepGenerator, and disposes them otherwise', async () => {
    const teacher = tinySequential();
    // A first run creates tfjs's lazily cached tensors; count from the second.
    (await quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, ...small })).model.dispose();
    const before = tf.memory().numTensors;
    const plain = await quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, ...small });
    expect(plain.generator).toBeUndefined();
    const studentTensors = plain.model.weights.length;
    expect(tf.memory().numTensors - before).toBe(studentTensors);
    plain.model.dispose();

    const kept = await quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, ...small, keepGenerator: true });
    const { generator, embedding, mapping } = kept.generator ?? {};
    expect(generator?.outputs[0]?.shape).toEqual([null, 8, 8, 3]);
    expect(embedding?.numClasses).toBe(5);
    expect(mapping?.outputs[0]?.shape).toEqual([null, 100]);
    const owned = (generator?.weights.length ?? 0) + (mapping?.weights.length ?? 0) + 1 + kept.model.weights.length;
    expect(tf.memory().numTensors - before).toBeGreaterThanOrEqual(owned);
    generator?.dispose();
    mapping?.dispose();
    embedding?.dispose();
    kept.model.dispose();
  });

  it('previews the generator at work (fixed latents, plain and two-class mixes) without changing training', async () => {
    const teacher = tinySequential();
    const options = { weightBits: 4, activationBits: 4, ...small } as const;
    const plainRun = await quantizeDataFree(teacher, options);
    const expected = plainRun.model.getWeights().map((w) => w.dataSync().slice());
    plainRun.model.dispose();
    const before = tf.memory().numTensors;
    const previews: { iteration: number; preview: SamplePreview }[] = [];
    const { model } = await quantizeDataFree(teacher, {
      ...options,
      samplesEvery: 2,
      onSamples: (preview, iteration) => previews.push({ iteration, preview }),
    });
    expect(tf.memory().numTensors - before).toBe(model.weights.length);
    // Previews change nothing in training: the same student, weight for weight.
    expect(model.getWeights().map((w) => w.dataSync().slice())).toEqual(expected);
    model.dispose();
    expect(previews.map((p) => p.iteration)).toEqual([1, 2, 4]);
    const { plain, superposed } = (previews[2] as { preview: SamplePreview }).preview;
    expect(plain.shape).toEqual([5, 8, 8, 3]);
    expect(superposed.shape).toEqual([5, 8, 8, 3]);
    expect(plain.mixes.map((m) => m.classes)).toEqual([[0], [1], [2], [3], [4]]);
    expect(superposed.mixes.map((m) => m.classes)).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
      [4, 0],
    ]);
    expect(superposed.mixes.every((m) => m.coefficients.join() === '0.5,0.5')).toBe(true);
    expect(plain.images.every(Number.isFinite)).toBe(true);
    // The same latents as the generator trains: the images move.
    expect(previews[0]?.preview.plain.images).not.toEqual(plain.images);
    expect(plain.images).not.toEqual(superposed.images);
    await expect(quantizeDataFree(teacher, { ...options, samplesEvery: 0 })).rejects.toThrow(
      'samplesEvery must be a positive integer, got 0',
    );
  });

  it("'gdfq' turns off superposition and mapping; 'minmax' calibrates on noise without a generator", async () => {
    const teacher = tinySequential();
    const gdfq = await quantizeDataFree(teacher, {
      weightBits: 4,
      activationBits: 4,
      method: 'gdfq',
      ...small,
      iterations: 2,
    });
    expect(gdfq.report.settings).toMatchObject({ superposeProbability: 0, mapping: false, intermediateDim: null });
    const minmax = await quantizeDataFree(teacher, {
      backend: 'current',
      weightBits: 4,
      activationBits: 4,
      method: 'minmax',
      batchSize: 4,
      calibrationBatches: 3,
    });
    expect(minmax.report).toMatchObject({ method: 'minmax', iterations: 0 });
    for (const q of activationQuantizers(minmax.model)) expect(q.rangeState().observedBatches).toBe(3);
  });

  it('is reproducible for a seed', async () => {
    const run = async () => {
      const { model } = await quantizeDataFree(tinySequential(), {
        weightBits: 4,
        activationBits: 4,
        ...small,
        seed: 7,
      });
      return Array.from((model.predict(tf.ones([1, 8, 8, 3])) as tf.Tensor).dataSync());
    };
    expect(await run()).toEqual(await run());
  });

  it('names what is wrong with the model or the options', async () => {
    const noBn = sequential({ layers: [layers.flatten({ inputShape: [8, 8, 3] }), layers.dense({ units: 3 })] });
    await expect(quantizeDataFree(noBn, { weightBits: 4, activationBits: 4, backend: 'current' })).rejects.toThrow(
      /has no BatchNormalization layer/,
    );
    const vector = sequential({ layers: [layers.dense({ inputShape: [5], units: 3 })] });
    await expect(
      quantizeDataFree(vector, { backend: 'current', weightBits: 4, activationBits: 4, method: 'minmax' }),
    ).rejects.toThrow(/the input must be an NHWC image batch \[null, height, width, channels\]/);
    const odd = sequential({
      layers: [
        layers.conv2d({ inputShape: [3, 3, 1], filters: 2, kernelSize: 1 }),
        layers.batchNormalization(),
        layers.flatten(),
        layers.dense({ units: 2 }),
      ],
    });
    const tiny = tinySequential();
    // Every refusal, early or after the student and fidelity set exist, disposes what it made.
    const before = tf.memory().numTensors;
    await expect(quantizeDataFree(odd, { backend: 'current', weightBits: 4, activationBits: 4 })).rejects.toThrow(
      /the generator needs images of at least 4x4 pixels, got 3x3/,
    );
    await expect(
      quantizeDataFree(tiny, {
        backend: 'current',
        weightBits: 4,
        activationBits: 4,
        method: 'zeroq' as never,
      }),
    ).rejects.toThrow(/method must be one of 'qimera', 'gdfq', 'adaround', 'mse', 'minmax', got "zeroq"/);
    await expect(
      quantizeDataFree(tiny, { ...small, weightBits: 4, activationBits: 4, inputRange: [1, 0] }),
    ).rejects.toThrow('quantizeDataFree: inputRange must be [min, max] with finite min < max, got [1,0]');
    await expect(quantizeDataFree(tiny, { backend: 'current', weightBits: 1, activationBits: 4 })).rejects.toThrow(
      /config.weightBits: bit width/,
    );
    await expect(
      quantizeDataFree(tiny, {
        weightBits: 4,
        activationBits: 4,
        embeddingInit: 'classifier',
        latentDim: 32,
        ...small,
      }),
    ).rejects.toThrow(/layer 'fc' has 64 input features, but the embedding needs dim 32/);
    await expect(
      quantizeDataFree(tiny, { ...small, weightBits: 4, activationBits: 4, method: 'mse', resumeFrom: {} as never }),
    ).rejects.toThrow("checkpoint and resumeFrom apply to 'qimera' and 'gdfq', not 'mse'");
    await expect(
      quantizeDataFree(tiny, { ...small, weightBits: 4, activationBits: 4, resumeFrom: { format: 'x' } as never }),
    ).rejects.toThrow('resumeFrom is not a distill checkpoint');
    expect(tf.memory().numTensors, 'a refusal leaked tensors').toBe(before);
    // With the matching size the classifier init is used.
    const fromClassifier = await quantizeDataFree(tinySequential(), {
      weightBits: 4,
      activationBits: 4,
      embeddingInit: 'classifier',
      ...small,
      iterations: 1,
    });
    expect(fromClassifier.report.settings).toMatchObject({ embeddingInit: 'classifier', latentDim: 64 });
  });

  it('takes schedule defaults from the preset; explicit options override them', async () => {
    const { iterationsPerEpoch: _, warmupEpochs: __, ...budget } = small;
    const { report } = await quantizeDataFree(tinySequential(), {
      weightBits: 4,
      activationBits: 4,
      ...budget,
      preset: 'short',
      iterations: 2,
      batchSize: 4,
    });
    expect(report.settings).toMatchObject({
      preset: 'short',
      batchSize: 4,
      iterationsPerEpoch: 50,
      warmupEpochs: 1,
      superposeAfter: 200,
    });
    const paper = await quantizeDataFree(tinySequential(), {
      weightBits: 4,
      activationBits: 4,
      ...small,
      preset: 'paper',
    });
    expect(paper.report.settings).toMatchObject({ preset: 'paper', iterationsPerEpoch: 2, superposeAfter: 0 });
    await expect(
      quantizeDataFree(tinySequential(), { weightBits: 4, activationBits: 4, ...small, preset: 'fast' as 'short' }),
    ).rejects.toThrow(/preset must be 'paper' or 'short', got "fast"/);
  });
});

describe('quantizeDataFree: calibrated start, fidelity guard, budgets', () => {
  it("'mse' calibrates without training: frozen ranges, bias correction, fidelity of start and result", async () => {
    const teacher = tinySequential();
    const { model, report } = await quantizeDataFree(teacher, {
      weightBits: 3,
      activationBits: 3,
      method: 'mse',
      ...small,
    });
    expect(report).toMatchObject({ method: 'mse', iterations: 0, aborted: false });
    expect(report.start).toMatchObject({ images: 16, steps: 5, biasCorrection: { biases: ['c1', 'fc'] } });
    expect(report.fidelity?.returnedIteration).toBe(0);
    expect(report.fidelity?.returned).toEqual(report.fidelity?.start);
    for (const q of activationQuantizers(model)) {
      expect(q.frozen).toBe(true);
      expect(q.rangeState().observedBatches).toBe(1);
    }
    model.dispose();
  });

  it('quantizes a model that ends in a softmax on its logits, and returns the student with the softmax', async () => {
    const run = (teacher: LayersModel) =>
      quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, method: 'mse', ...small });
    const fused = await run(tinySequential('fused'));
    const plain = await run(tinySequential());
    const input = tf.randomNormal([6, 8, 8, 3], 0, 1, 'float32', 5);
    // The same run as on the model without its softmax (synthesis, ranges, fidelity), softmax applied last.
    const expected = tf.tidy(() => Array.from(tf.softmax(plain.model.predict(input) as tf.Tensor).dataSync()));
    const got = tf.tidy(() => Array.from((fused.model.predict(input) as tf.Tensor).dataSync()));
    expect(got).toEqual(expected.map((v) => expect.closeTo(v, 5)));
    expect(fused.report.fidelity).toEqual(plain.report.fidelity);
    expect(fused.model.layers.at(-1)?.name).toBe('fc_softmax');
    // The packed artifact keeps the softmax.
    let saved: tf.io.ModelArtifacts | undefined;
    await exportQuantized(
      fused.model,
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      }),
    );
    const loaded = await loadQuantizedModel(tf.io.fromMemory(saved as tf.io.ModelArtifacts));
    const reloaded = tf.tidy(() => Array.from((loaded.predict(input) as tf.Tensor).dataSync()));
    expect(reloaded).toEqual(got.map((v) => expect.closeTo(v, 5)));
    loaded.dispose();
    tf.dispose(input);
    fused.model.dispose();
    plain.model.dispose();
  });

  it('returns a student that predicts and exports from a run aborted before any range was calibrated', async () => {
    const teacher = tinySequential();
    const x = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 3);
    const aborted = AbortSignal.abort();
    const warnings: string[] = [];
    // The paper's start calibrates ranges during warm-up: aborted before it, none has a range.
    const { model, report } = await quantizeDataFree(teacher, {
      ...small,
      weightBits: 4,
      activationBits: 4,
      start: 'minmax',
      signal: aborted,
      warn: (line) => warnings.push(line),
    });
    expect(report).toMatchObject({ aborted: true, iterations: 0 });
    expect(warnings.join('\n')).toMatch(
      /stopped before 2 activation range\(s\) were calibrated \(c1_quant, r1_quant\); they were calibrated on N\(0, 1\) noise/,
    );
    for (const q of activationQuantizers(model)) {
      expect(q.frozen).toBe(true);
      expect(q.rangeState().observedBatches).toBe(1);
    }
    const out = model.predict(x) as tf.Tensor;
    expect(Array.from(out.dataSync()).every(Number.isFinite)).toBe(true);
    let saved: tf.io.ModelArtifacts | undefined;
    await exportQuantized(
      model,
      tf.io.withSaveHandler(async (artifacts) => {
        saved = artifacts;
        return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
      }),
    );
    expect(saved?.weightData).toBeDefined();
    model.dispose();
    // 'minmax' honours the signal too: one batch of noise, so the ranges exist.
    const baseline = await quantizeDataFree(teacher, {
      ...small,
      weightBits: 4,
      activationBits: 4,
      method: 'minmax',
      signal: aborted,
    });
    expect(baseline.report).toMatchObject({ aborted: true, settings: { calibrationBatches: 1 } });
    expect(Array.from((baseline.model.predict(x) as tf.Tensor).dataSync()).every(Number.isFinite)).toBe(true);
    baseline.model.dispose();
  });

  it('stops a diverging run with an error naming the iteration, and hands over the last good student', async () => {
    const teacher = tinySequential();
    const before = tf.memory().numTensors;
    const error = await quantizeDataFree(teacher, {
      ...small,
      weightBits: 4,
      activationBits: 4,
      studentLearningRate: 1e30,
      warmupEpochs: 0,
      iterations: 3,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainingDivergedError);
    const diverged = error as TrainingDivergedError;
    // The first update multiplies the weights by about 1e28; the next loss or update overflows.
    expect(diverged.iteration).toBeGreaterThanOrEqual(1);
    expect(diverged.iteration).toBeLessThanOrEqual(3);
    expect(diverged.what).toMatch(/^student (loss|weights)$/);
    expect(diverged.message).toMatch(
      new RegExp(
        `^training diverged at iteration ${diverged.iteration}: the ${diverged.what} became non-finite \\(generator `,
      ),
    );
    const student = diverged.student as LayersModel;
    for (const weight of student.trainableWeights) {
      expect(Array.from(weight.read().dataSync()).every(Number.isFinite)).toBe(true);
    }
    student.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('refuses a teacher with non-finite weights before any work, naming the layer and the weight', async () => {
    const teacher = tinySequential();
    const fc = teacher.getLayer('fc');
    const [kernel, bias] = fc.getWeights();
    const nan = tf.fill(bias?.shape as number[], Number.NaN);
    fc.setWeights([kernel as tf.Tensor, nan]);
    nan.dispose();
    const before = tf.memory().numTensors;
    await expect(quantizeDataFree(teacher, { ...small, weightBits: 4, activationBits: 4 })).rejects.toThrow(
      "quantizeDataFree: the teacher 'tiny_seq' has non-finite weights (a corrupt weights file?):\n  - layer 'fc' weight 'fc/bias': 5 NaN, 0 infinite",
    );
    expect(tf.memory().numTensors).toBe(before);
  });

  it('measures on a fidelity set the caller gives, and leaves it to the caller', async () => {
    const teacher = tinySequential();
    const set = await FidelitySet.synthesize(teacher, { images: 8, steps: 2, seed: 5 });
    const before = tf.memory().numTensors;
    const { model, report } = await quantizeDataFree(teacher, {
      ...small,
      weightBits: 4,
      activationBits: 4,
      method: 'mse',
      fidelitySet: set,
    });
    expect(report.fidelity?.start).toEqual(set.measure(model));
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    set.dispose();
  });

  it("'adaround' learns each kernel's rounding after calibrating, within the budget", async () => {
    const teacher = tinySequential();
    const before = tf.memory().numTensors;
    const { model, report } = await quantizeDataFree(teacher, {
      weightBits: 3,
      activationBits: 4,
      method: 'adaround',
      inputRange: [-1, 1],
      reconstruction: { images: 24, iterations: 20, batchSize: 8 },
      ...small,
    });
    expect(report).toMatchObject({ method: 'adaround', iterations: 0, aborted: false });
    const reconstruction = report.start?.reconstruction;
    expect(reconstruction?.layers.map((l) => l.name)).toEqual(['c1', 'fc']);
    for (const layer of reconstruction?.layers ?? []) {
      expect(layer).toMatchObject({ iterations: 20 });
      expect(layer.errorAfter).toBeLessThanOrEqual(layer.errorBefore);
    }
    expect(report.fidelity?.returned).toEqual(report.fidelity?.start);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("'adaround' with workers: 2 synthesizes on two threads and returns the student one thread does", async () => {
    const teacher = tinySequential();
    tf.tidy(() =>
      teacher.getLayer('bn1').setWeights([tf.ones([4]), tf.fill([4], 0.5), tf.fill([4], 0.5), tf.ones([4])]),
    );
    const input = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 3);
    const before = tf.memory().numTensors;
    const run = async (workers: number) => {
      const { model, report } = await quantizeDataFree(teacher, {
        ...small,
        weightBits: 4,
        activationBits: 4,
        method: 'adaround',
        inputRange: [-1, 1],
        synthesisJitter: 1,
        // Calibration images, then two more batches; the fidelity set is two batches too.
        reconstruction: { images: 48, iterations: 10, batchSize: 8 },
        workers,
      });
      const output = tf.tidy(() => Array.from((model.predict(input) as tf.Tensor).dataSync()));
      model.dispose();
      return { output, fidelity: report.fidelity?.start, images: report.start?.reconstructionImages };
    };
    const one = await run(1);
    expect(one.images).toBe(48);
    expect(await run(2)).toEqual(one);
    expect(tf.memory().numTensors).toBe(before);
    input.dispose();
    await expect(quantizeDataFree(teacher, { ...small, weightBits: 4, activationBits: 4, workers: 3 })).rejects.toThrow(
      'quantizeDataFree: workers must be 1 or 2, got 3',
    );
  });

  it('synthesizes with the jitter, flips and smoothness asked for, reproducibly for a seed', async () => {
    const teacher = tinySequential();
    // A BN that lets signal through (random BN weights can zero every channel, and the output with them).
    tf.tidy(() =>
      teacher.getLayer('bn1').setWeights([tf.ones([4]), tf.fill([4], 0.5), tf.fill([4], 0.5), tf.ones([4])]),
    );
    const before = tf.memory().numTensors;
    const input = tf.randomNormal([4, 8, 8, 3], 0, 1, 'float32', 3);
    const outputOf = async (style: {
      synthesisJitter?: number;
      synthesisFlip?: boolean;
      synthesisTvWeight?: number;
      synthesisStartingNoise?: 'multiScale';
    }) => {
      const { model } = await quantizeDataFree(teacher, {
        ...small,
        weightBits: 4,
        activationBits: 4,
        method: 'mse',
        fidelityImages: 0,
        ...style,
      });
      const output = tf.tidy(() => Array.from((model.predict(input) as tf.Tensor).dataSync()));
      model.dispose();
      return output;
    };
    const still = await outputOf({});
    const moved = await outputOf({ synthesisJitter: 2, synthesisFlip: true });
    // Other images, so other calibrated ranges and corrected biases.
    expect(moved).not.toEqual(still);
    expect(await outputOf({ synthesisJitter: 2, synthesisFlip: true })).toEqual(moved);
    // The smoothness prior reaches synthesis too.
    expect(await outputOf({ synthesisTvWeight: 5 })).not.toEqual(still);
    // So does the starting noise.
    expect(await outputOf({ synthesisStartingNoise: 'multiScale' })).not.toEqual(still);
    input.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it("synthesizes learned rounding's extra images only while the budget's synthesis share lasts", async () => {
    const teacher = tinySequential();
    const before = tf.memory().numTensors;
    const startWith = async (deadline?: number, workers = 1) => {
      const student = await quantizeModel(teacher, { weightBits: 4, activationBits: 4 });
      const report = await calibrateStart(teacher, student, {
        images: 8,
        steps: 2,
        synthesisBatchSize: 8,
        reconstruction: { images: 24, iterations: 2, batchSize: 8 },
        workers,
        ...(deadline !== undefined ? { deadline } : {}),
      });
      student.dispose();
      return report;
    };
    // No deadline: all 24; a deadline already spent: the 8 calibration images only.
    expect((await startWith()).reconstructionImages).toBe(24);
    expect((await startWith(Date.now())).reconstructionImages).toBe(8);
    expect((await startWith(Date.now() + 3_600_000)).reconstructionImages).toBe(24);
    // Two threads wait for the calibration batch's timing, then take the rest two at a time.
    expect((await startWith(Date.now(), 2)).reconstructionImages).toBe(8);
    const twoThreads = await startWith(Date.now() + 3_600_000, 2);
    expect(twoThreads.reconstructionImages).toBe(24);
    expect(twoThreads.reconstruction?.layers).toEqual((await startWith(undefined, 1)).reconstruction?.layers);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('returns the best state by fidelity: a student trained to ruin comes back as its start', async () => {
    const teacher = tinySequential();
    const progress: (DistillProgress & { fidelity: unknown })[] = [];
    const run = () =>
      quantizeDataFree(teacher, {
        weightBits: 4,
        activationBits: 4,
        ...small,
        iterations: 6,
        guard: 'kl',
        guardEvery: 1,
        studentLearningRate: 50,
        seed: 3,
        onProgress: (p) => progress.push(p),
      });
    const { model, report } = await run();
    const fidelity = report.fidelity;
    expect(fidelity?.checks).toBe(5); // the start, then iterations 3 to 6 (1 and 2 are warm-up)
    expect(fidelity?.returned.all.kl).toBeLessThanOrEqual(fidelity?.start.all.kl as number);
    // The progress callback saw every check; the returned state is the best of them.
    const seen = progress.map((p) => p.fidelity as { all: { kl: number } });
    expect(Math.min(...seen.map((f) => f.all.kl))).toBeCloseTo(fidelity?.returned.all.kl as number, 6);
    // The same fidelity set, made again from its seed, measures the returned model as reported.
    const set = await FidelitySet.synthesize(teacher, { images: 16, steps: 5, seed: 3 + 104_729 });
    expect(set.measure(model).all.kl).toBeCloseTo(fidelity?.returned.all.kl as number, 5);
    set.dispose();
    model.dispose();
    // Without the guard the last state comes back.
    const off = await quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, ...small, guard: 'off' });
    expect(off.report.fidelity?.returnedIteration).toBe(4);
    off.model.dispose();
  });

  it('runs to a time budget, warns when a budget ends in warm-up, and checks the budget options', async () => {
    const teacher = tinySequential();
    const { iterations: _, ...untimed } = small;
    const timed = await quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, ...untimed, minutes: 0.05 });
    expect(timed.report.wallTimeMs).toBeGreaterThanOrEqual(2000);
    expect(timed.report.wallTimeMs).toBeLessThan(8000);
    expect(timed.report.iterations).toBeGreaterThan(0);
    expect(timed.report.settings.timeBudgetMs).toBeGreaterThan(0);
    timed.model.dispose();
    const messages: string[] = [];
    const logged: string[] = [];
    const short = await quantizeDataFree(teacher, {
      weightBits: 4,
      activationBits: 4,
      ...small,
      iterations: 2,
      backend: 'current',
      warn: (m) => messages.push(m),
      log: (m) => logged.push(m),
    });
    expect(logged).toEqual([]);
    expect(messages[0]).toBe(
      'quantizeDataFree: 2 iterations end inside warm-up (2 iterations): the student never trains, only its starting point is returned',
    );
    expect(messages[1]).toContain('the run ended inside warm-up after 2 iterations');
    short.model.dispose();
    await expect(quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, minutes: 0 })).rejects.toThrow(
      'quantizeDataFree: minutes must be a positive number, got 0',
    );
    // Checked before any work: a batch of 0 used to calibrate on empty batches.
    const tensors = tf.memory().numTensors;
    for (const [name, value] of [
      ['batchSize', 0],
      ['calibrationBatches', 0],
      ['batchSize', 2.5],
      ['calibrationImages', 0],
      ['synthesisSteps', 1.5],
    ] as const) {
      await expect(
        quantizeDataFree(teacher, { weightBits: 8, activationBits: 8, method: 'minmax', [name]: value }),
      ).rejects.toThrow(`quantizeDataFree: ${name} must be a positive integer, got ${value}`);
    }
    // NaN would have meant no fidelity set, silently.
    for (const value of [-1, 2.5, Number.NaN]) {
      await expect(
        quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, method: 'mse', fidelityImages: value }),
      ).rejects.toThrow(
        `quantizeDataFree: fidelityImages must be a non-negative integer (0: no fidelity set), got ${value}`,
      );
    }
    for (const value of [-1, 1.5, Number.NaN, 8]) {
      await expect(
        quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, method: 'mse', synthesisJitter: value }),
      ).rejects.toThrow(
        `quantizeDataFree: synthesisJitter must be a whole number of pixels from 0 to less than the image side (8), got ${value}`,
      );
    }
    await expect(
      quantizeDataFree(teacher, {
        weightBits: 4,
        activationBits: 4,
        method: 'mse',
        synthesisStartingNoise: 'brown' as never,
      }),
    ).rejects.toThrow(`quantizeDataFree: synthesisStartingNoise must be one of 'white', 'multiScale', got "brown"`);
    for (const option of ['synthesisTvWeight', 'synthesisBnsWeight'] as const) {
      for (const value of [-1, Number.NaN]) {
        await expect(
          quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, method: 'mse', [option]: value }),
        ).rejects.toThrow(`quantizeDataFree: ${option} must be a finite number >= 0, got ${value}`);
      }
    }
    expect(tf.memory().numTensors).toBe(tensors);
    await expect(
      quantizeDataFree(teacher, { weightBits: 4, activationBits: 4, start: 'zero' as never }),
    ).rejects.toThrow("start must be 'calibrated' or 'minmax'");
  });
});

describe('defaults and backends', () => {
  it('follows QIMERA.md per model size', () => {
    expect(methodDefaults(10, 32)).toMatchObject({
      slots: 2,
      latentDim: 64,
      batchSize: 200,
      warmupEpochs: 4,
      studentLearningRate: 1e-4,
    });
    expect(methodDefaults(10, 32, 'paper')).toEqual(methodDefaults(10, 32));
    expect(methodDefaults(10, 32)).toMatchObject({
      iterationsPerEpoch: 200,
      studentLrSchedule: 'step',
      superposeAfter: 0,
    });
    expect(methodDefaults(100, 32).slots).toBe(10);
    expect(methodDefaults(1000, 224)).toMatchObject({
      slots: 500,
      latentDim: 512,
      batchSize: 16,
      warmupEpochs: 50,
      classConditionalGenerator: true,
    });
  });

  it("'short' preset: batch 64, one warm-up epoch of 50 iterations, superposition from iteration 200", () => {
    expect(methodDefaults(10, 32, 'short')).toEqual({
      ...methodDefaults(10, 32),
      batchSize: 64,
      iterationsPerEpoch: 50,
      warmupEpochs: 1,
      superposeAfter: 200,
    });
    // ImageNet-scale models keep their batch size and student rate.
    expect(methodDefaults(1000, 224, 'short')).toMatchObject({
      batchSize: 16,
      studentLearningRate: 1e-6,
      warmupEpochs: 1,
    });
    expect(() => methodDefaults(10, 32, 'fast' as 'short')).toThrow(/preset must be 'paper' or 'short', got "fast"/);
  });

  it('generates at the image size up to 64 pixels a side, smaller above, in multiples of 4', () => {
    expect(defaultGenerationSize(32, 32)).toEqual([32, 32]);
    expect(defaultGenerationSize(28, 28)).toEqual([28, 28]);
    expect(defaultGenerationSize(30, 30)).toEqual([28, 28]);
    expect(defaultGenerationSize(64, 64)).toEqual([64, 64]);
    // 224 / 4 = 56; 299 / 5 = 59.8 -> 56; 65 / 2 = 32.5 -> 32; the factor follows the longer side.
    expect(defaultGenerationSize(224, 224)).toEqual([56, 56]);
    expect(defaultGenerationSize(299, 299)).toEqual([56, 56]);
    expect(defaultGenerationSize(65, 65)).toEqual([32, 32]);
    expect(defaultGenerationSize(224, 112)).toEqual([56, 28]);
    expect(defaultGenerationSize(5, 200)).toEqual([4, 48]);
  });

  it("quantizeDataFree switches backend: 'auto' picks the fastest, a name picks that one", async () => {
    const messages: string[] = [];
    const minmax = { weightBits: 8, activationBits: 8, method: 'minmax', batchSize: 2, calibrationBatches: 1 } as const;
    expect((await quantizeDataFree(tinySequential(), { ...minmax, log: (m) => messages.push(m) })).report.backend).toBe(
      'wasm',
    );
    expect(messages).toEqual(["qimera: using the tfjs 'wasm' backend with @qimera/wasm-training kernels"]);
    expect(
      (await quantizeDataFree(tinySequential(), { ...minmax, backend: 'cpu', log: () => {} })).report.backend,
    ).toBe('cpu');
  });

  it('picks the fastest registered backend (wasm here), logs it, and honours an explicit choice', async () => {
    const messages: string[] = [];
    expect(await useFastestBackend({ log: (m) => messages.push(m) })).toBe('wasm');
    expect(messages).toEqual(["qimera: using the tfjs 'wasm' backend with @qimera/wasm-training kernels"]);
    expect(await useFastestBackend({ prefer: 'cpu', log: () => {} })).toBe('cpu');
    await expect(useFastestBackend({ prefer: 'tensorflow' })).rejects.toThrow(/backend 'tensorflow' is not registered/);
  });
});
