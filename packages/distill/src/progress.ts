/**
 * Losses of one iteration: student ones are absent during warm-up, generator ones when
 * the images come from an image source instead of the generator.
 */
export interface IterationLosses {
  generator?: number;
  crossEntropy?: number;
  bns?: number;
  student?: number;
  kd?: number;
  studentCrossEntropy?: number;
}

/** Reported after every iteration. */
export interface DistillProgress {
  /** Iterations completed so far (1-based). */
  iteration: number;
  iterations: number;
  epoch: number;
  phase: 'warmup' | 'distill';
  superposed: boolean;
  losses: IterationLosses;
  /** Rates this iteration's updates used: absent where no update ran (see {@link IterationLosses}). */
  learningRates: { generator?: number; student?: number };
  /** Share of the batch's samples the teacher assigns to their target's top class. */
  teacherAccuracy: number;
  elapsedMs: number;
  etaMs: number;
}

/** What `distill` did. */
export interface DistillResult {
  iterations: number;
  aborted: boolean;
  elapsedMs: number;
  last: DistillProgress | null;
}
