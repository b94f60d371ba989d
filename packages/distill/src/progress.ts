/** Losses of one iteration (student ones are absent during warm-up). */
export interface IterationLosses {
  generator: number;
  crossEntropy: number;
  bns: number;
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
  /** Share of generated samples the teacher assigns to their target's top class. */
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
