import { SeededRandom, sampleLabels } from '@qimera/superposition';
import type { DistillProgress, DistillResult, IterationLosses } from './progress.js';
import { LocalReplicaGroup, type ReplicaGroup } from './replica_group.js';
import { multiStepRate } from './schedule.js';
import { type DistillOptions, resolveSettings } from './settings.js';

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
 * {@link DistillOptions.workers}).
 */
export async function distill(options: DistillOptions): Promise<DistillResult> {
  const settings = resolveSettings(options);
  const models = {
    teacher: options.teacher,
    student: options.student,
    generator: options.generator,
    embedding: options.embedding,
    mapping: options.mapping ?? null,
  };
  // Loaded only when asked for: worker threads exist in Node only, not in browsers.
  const group: ReplicaGroup =
    settings.workers === 2
      ? await (await import('./worker_group.js')).WorkerReplicaGroup.start(models, settings)
      : new LocalReplicaGroup(models, settings);
  const rng = new SeededRandom(settings.seed);
  const started = Date.now();
  let last: DistillProgress | null = null;
  let done = 0;
  let frozen = false;
  try {
    for (; done < settings.iterations; done++) {
      if (options.signal?.aborted) break;
      const epoch = Math.floor(done / settings.iterationsPerEpoch);
      const rate = (base: number) => multiStepRate(base, epoch, settings.lrMilestones, settings.lrGamma);
      const warmup = epoch < settings.warmupEpochs;
      const labels = sampleLabels(rng, settings);
      const seeds = Array.from({ length: settings.workers }, () => rng.nextSeed());
      const generator = await group.generatorStep(labels, seeds, rate(settings.generatorLearningRate));
      const losses: IterationLosses = {
        generator: generator.loss,
        crossEntropy: generator.crossEntropy,
        bns: generator.bns,
      };
      if (warmup) await group.calibrate();
      else {
        if (!frozen) {
          await group.freezeRanges();
          frozen = true;
        }
        const student = await group.studentStep(rate(settings.studentLearningRate));
        Object.assign(losses, { student: student.loss, kd: student.kd, studentCrossEntropy: student.crossEntropy });
      }
      const elapsedMs = Date.now() - started;
      last = {
        iteration: done + 1,
        iterations: settings.iterations,
        epoch,
        phase: warmup ? 'warmup' : 'distill',
        superposed: labels.superposed,
        losses,
        teacherAccuracy: generator.teacherAccuracy,
        elapsedMs,
        etaMs: (elapsedMs / (done + 1)) * (settings.iterations - done - 1),
      };
      options.onProgress?.(last, group.student);
      // Let abort signals and other callbacks in between iterations.
      await new Promise((resolveTick) => setImmediate(resolveTick));
    }
    if (!frozen) await group.freezeRanges();
  } finally {
    await group.dispose();
  }
  return { iterations: done, aborted: done < settings.iterations, elapsedMs: Date.now() - started, last };
}
