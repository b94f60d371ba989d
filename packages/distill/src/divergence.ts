import { abs, addN, dispose, sum, type Tensor, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { IterationLosses } from './progress.js';

/**
 * Training produced a non-finite loss or non-finite student weights. The student was
 * put back as it was before the step that broke it.
 */
export class TrainingDivergedError extends Error {
  /**
   * The student as it was before the step that broke it, when the code that owned it
   * hands it over (`quantizeDataFree` does); whoever catches the error then disposes it.
   */
  student?: LayersModel;

  constructor(
    /** The iteration (1-based) whose loss or update was not finite. */
    readonly iteration: number,
    /** That iteration's losses so far. */
    readonly losses: IterationLosses,
    /** What was not finite: `'generator loss'`, `'student loss'` or `'student weights'`. */
    readonly what: string,
  ) {
    const shown = Object.entries(losses)
      .map(([name, value]) => `${name} ${value}`)
      .join(', ');
    super(
      `training diverged at iteration ${iteration}: the ${what} became non-finite (${shown}); ` +
        'the student is as it was before that step. Lower the learning rates (studentLearningRate, ' +
        'generatorLearningRate) or check the teacher for non-finite weights',
    );
    this.name = 'TrainingDivergedError';
  }
}

/**
 * Keeps the student's trainable weights as they were before an update, to put them
 * back when the update made any of them non-finite. The copy shares the weights' data
 * (updates give variables new data), so taking it costs nothing; a check is one pass.
 */
export class StudentSnapshot {
  private saved: Tensor[] = [];

  constructor(private readonly student: LayersModel) {}

  /** Copies the current trainable weights (replacing the previous copy). */
  take(): void {
    dispose(this.saved);
    this.saved = this.student.trainableWeights.map((w) => w.read().clone());
  }

  /** Whether every trainable weight is finite (their absolute sum is). */
  weightsFinite(): boolean {
    const weights = this.student.trainableWeights;
    if (weights.length === 0) return true;
    return tidy(() => Number.isFinite(addN(weights.map((w) => sum(abs(w.read())))).dataSync()[0]));
  }

  /** Writes the copy back. */
  restore(): void {
    this.student.trainableWeights.forEach((w, i) => {
      const value = this.saved[i];
      if (value) w.write(value);
    });
  }

  dispose(): void {
    dispose(this.saved);
    this.saved = [];
  }
}
