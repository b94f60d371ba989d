import { activationQuantizers } from '@qimera/quantizers';
import { SeededRandom, sampleLabels } from '@qimera/superposition';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  CheckpointClock,
  embeddingTensors,
  modelTensors,
  restoreModels,
} from './checkpoint.js';
import { StudentSnapshot, TrainingDivergedError } from './divergence.js';
import type { ImageBatchArrays } from './image_source.js';
import type { DistillProgress, DistillResult, IterationLosses } from './progress.js';
import { LocalReplicaGroup, type ReplicaGroup } from './replica_group.js';
import { cosineRate, multiStepRate } from './schedule.js';
import { type DistillOptions, type DistillSettings, resolveSettings } from './settings.js';
import { WorkerReplicaGroup } from './worker_group.js';

/**
 * The Qimera/GDFQ alternating loop. Each iteration: draw labels (superposed with
 * probability p), generate images, update the generator on
 * `L_G = CE_soft(teacher(x), y) + bnsWeight · L_BNS`, then, after the warm-up epochs,
 * update the student on `L_S = KD(teacher(x), student(x)) + CE_soft(student(x), y)`
 * with the same (detached) images and teacher logits. During warm-up the student only
 * runs forward so its activation quantizers calibrate; their ranges are frozen when
 * warm-up ends (or when the run ends or is aborted first; with no warm-up, ranges never
 * observed are calibrated on the first batch). The teacher runs in inference mode and
 * never changes; the student's BatchNorms run in inference mode while their gamma and
 * beta train. With `workers: 2` each batch is split over two threads (see
 * {@link DistillOptions.workers}). With an image source ({@link DistillOptions.images})
 * there is no generator: each iteration's batch comes from the source and only the
 * student schedule runs.
 *
 * With {@link DistillOptions.checkpoint} the whole state is handed out every so often
 * and when the run ends; {@link DistillOptions.resumeFrom} continues from such a
 * checkpoint (models built with the same options): a resumed run with an iteration
 * budget on one worker ends with the same weights, bit for bit, as one never stopped.
 *
 * @throws TrainingDivergedError when a loss or the student's weights become non-finite,
 *   naming the iteration; the student is then as it was before that step.
 */
export async function distill(options: DistillOptions): Promise<DistillResult> {
  const settings = resolveSettings(options);
  const source = options.images;
  if (!source && !(options.generator && options.embedding)) {
    throw new Error('distill: give a generator and an embedding, or an image source (images)');
  }
  const models = {
    teacher: options.teacher,
    student: options.student,
    generator: source ? null : (options.generator ?? null),
    embedding: source ? null : (options.embedding ?? null),
    mapping: source ? null : (options.mapping ?? null),
  };
  const imageShape = inputShape(options.teacher);
  const resume = options.resumeFrom ?? null;
  // Checked before anything is built that a refusal would have to dispose.
  const checkpoints = options.checkpoint ? new CheckpointClock(options.checkpoint, resume?.iteration ?? 0) : null;
  // Restored before the group starts, so worker replicas copy the restored models.
  if (resume) restoreModels(models, resume);
  const rng = new SeededRandom(resume?.randomState ?? settings.seed);
  const group: ReplicaGroup =
    settings.workers === 2 ? await WorkerReplicaGroup.start(models, settings) : new LocalReplicaGroup(models, settings);
  const started = Date.now() - (resume?.elapsedMs ?? 0);
  let last: DistillProgress | null = null;
  let done = resume?.iteration ?? 0;
  let frozen = false;
  const saveCheckpoint = async (iteration: number) =>
    checkpoints?.save({
      format: CHECKPOINT_FORMAT,
      version: CHECKPOINT_VERSION,
      iteration,
      // From the quantizers: a calibrated start freezes them before training does.
      rangesFrozen: activationQuantizers(models.student).every((q) => q.frozen),
      elapsedMs: Date.now() - started,
      randomState: rng.state,
      models: {
        student: modelTensors(models.student),
        generator: modelTensors(models.generator),
        mapping: modelTensors(models.mapping),
        embedding: embeddingTensors(models.embedding),
      },
      optimizers: await group.optimizerStates(),
    });
  // The student before each update, put back if the update breaks it.
  const snapshot = new StudentSnapshot(group.student);
  try {
    if (resume) {
      await group.restoreOptimizers(resume.optimizers);
      if (resume.rangesFrozen) {
        await group.freezeRanges();
        frozen = true;
      }
    }
    for (; done < settings.iterations; done++) {
      if (options.signal?.aborted) break;
      const clock = timeFraction(settings, Date.now() - started);
      if (clock !== null && clock >= 1) break;
      const epoch = Math.floor(done / settings.iterationsPerEpoch);
      const generatorRate =
        clock === null
          ? multiStepRate(settings.generatorLearningRate, epoch, settings.lrMilestones, settings.lrGamma)
          : settings.generatorLearningRate;
      const warmup = clock === null ? epoch < settings.warmupEpochs : clock < settings.warmupFraction;
      const losses: IterationLosses = {};
      const learningRates: DistillProgress['learningRates'] = {};
      let superposed = false;
      let teacherAccuracy: number;
      if (source) {
        const batch = checkedBatch(
          source(done, settings.batchSize),
          settings.batchSize,
          imageShape,
          settings.numClasses,
        );
        ({ teacherAccuracy } = await group.imageStep(batch, [settings.batchSize, ...imageShape]));
      } else {
        const labels = sampleLabels(rng, {
          ...settings,
          superposeProbability: (clock === null ? done < settings.superposeAfter : clock < settings.superposeFraction)
            ? 0
            : settings.superposeProbability,
        });
        const seeds = Array.from({ length: settings.workers }, () => rng.nextSeed());
        const generator = await group.generatorStep(labels, seeds, generatorRate);
        learningRates.generator = generatorRate;
        Object.assign(losses, { generator: generator.loss, crossEntropy: generator.crossEntropy, bns: generator.bns });
        if (!Number.isFinite(generator.loss)) throw new TrainingDivergedError(done + 1, losses, 'generator loss');
        superposed = labels.superposed;
        teacherAccuracy = generator.teacherAccuracy;
      }
      if (warmup) await group.calibrate();
      else {
        if (!frozen) {
          await group.freezeRanges();
          frozen = true;
        }
        learningRates.student = studentRate(settings, done, epoch, clock);
        snapshot.take();
        const student = await group.studentStep(learningRates.student);
        Object.assign(losses, { student: student.loss, kd: student.kd, studentCrossEntropy: student.crossEntropy });
        const broken = !Number.isFinite(student.loss)
          ? 'student loss'
          : snapshot.weightsFinite()
            ? null
            : 'student weights';
        if (broken) {
          snapshot.restore();
          throw new TrainingDivergedError(done + 1, losses, broken);
        }
      }
      const elapsedMs = Date.now() - started;
      last = {
        iteration: done + 1,
        iterations: settings.iterations,
        epoch,
        phase: warmup ? 'warmup' : 'distill',
        superposed,
        losses,
        learningRates,
        teacherAccuracy,
        elapsedMs,
        etaMs:
          settings.timeBudgetMs === null
            ? (elapsedMs / (done + 1)) * (settings.iterations - done - 1)
            : Math.max(0, settings.timeBudgetMs - elapsedMs),
      };
      options.onProgress?.(last, group.student);
      if (checkpoints?.due(done + 1)) await saveCheckpoint(done + 1);
      // Let abort signals and other callbacks in between iterations.
      await nextMacrotask();
    }
    // Before the final freeze: a run resumed from here goes on calibrating if it was.
    if (checkpoints && checkpoints.lastSaved !== done) await saveCheckpoint(done);
    if (!frozen) await group.freezeRanges();
  } finally {
    snapshot.dispose();
    await group.dispose();
  }
  const aborted = options.signal?.aborted === true || (settings.timeBudgetMs === null && done < settings.iterations);
  return { iterations: done, aborted, elapsedMs: Date.now() - started, last };
}

/** Share of the time budget spent after `elapsedMs`, or null without a time budget. */
function timeFraction(settings: DistillSettings, elapsedMs: number): number | null {
  return settings.timeBudgetMs === null ? null : elapsedMs / settings.timeBudgetMs;
}

/** The student's learning rate at iteration `done` (0-based) in `epoch`, or at `clock` of the time budget. */
function studentRate(settings: DistillSettings, done: number, epoch: number, clock: number | null): number {
  if (clock !== null) {
    if (settings.studentLrSchedule === 'step') return settings.studentLearningRate;
    const first = settings.warmupFraction;
    return cosineRate(settings.studentLearningRate, clock - first, 1 - first);
  }
  if (settings.studentLrSchedule === 'step') {
    return multiStepRate(settings.studentLearningRate, epoch, settings.lrMilestones, settings.lrGamma);
  }
  const first = settings.warmupEpochs * settings.iterationsPerEpoch;
  return cosineRate(settings.studentLearningRate, done - first, settings.iterations - first);
}

/** The teacher's input shape without the batch dimension. */
function inputShape(teacher: LayersModel): number[] {
  const shape = teacher.inputs[0]?.shape.slice(1) ?? [];
  if (shape.some((d) => d == null))
    throw new Error(`distill: the teacher's input shape must be fully known, got [${shape}]`);
  return shape as number[];
}

/** A source's batch, checked against the batch size, image shape and classes. */
function checkedBatch(batch: ImageBatchArrays, batchSize: number, shape: number[], classes: number): ImageBatchArrays {
  const pixels = shape.reduce((a, b) => a * b, 1);
  if (batch.images?.length !== batchSize * pixels) {
    throw new RangeError(
      `distill: the image source gave ${batch.images?.length} image values, expected ${batchSize} x [${shape}] = ${batchSize * pixels}`,
    );
  }
  if (batch.targets?.length !== batchSize * classes) {
    throw new RangeError(
      `distill: the image source gave ${batch.targets?.length} target values, expected ${batchSize} x ${classes} classes`,
    );
  }
  return batch;
}

/** Resolves after pending events have run: setImmediate in Node, a zero timeout in browsers (which lack it). */
function nextMacrotask(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof globalThis.setImmediate === 'function') globalThis.setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
