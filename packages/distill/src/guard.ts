import { dispose, type Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Fidelity, FidelitySet } from './fidelity.js';

/**
 * What a {@link FidelityGuard} ranks students by: `'kl'` (default) the mean KL
 * divergence from the teacher on the whole set, lower is better; `'agreement'` the
 * top-1 agreement, higher is better, ties broken by KL.
 */
export type GuardCriterion = 'kl' | 'agreement';
/** Every {@link GuardCriterion}. */
export const GUARD_CRITERIA: readonly GuardCriterion[] = ['kl', 'agreement'];

/** One measured student state. */
export interface GuardCheckpoint {
  /** Training iterations done when it was measured (0: the starting point). */
  iteration: number;
  fidelity: Fidelity;
}

/**
 * Keeps the best state of a student that is being trained, judged by its fidelity to
 * the teacher on a fixed {@link FidelitySet} (no data needed): each {@link check}
 * measures the student and, when it beats every earlier check, keeps a copy of all its
 * weights (activation ranges and BN statistics included); {@link restoreBest} puts the
 * best copy back. Check the starting point first, and a run can never end worse, by
 * this measure, than it started.
 */
export class FidelityGuard {
  private bestWeights: Tensor[] | null = null;
  private bestCheck: GuardCheckpoint | null = null;
  private lastCheck: GuardCheckpoint | null = null;
  /** Every check, in order. */
  readonly history: GuardCheckpoint[] = [];

  constructor(
    private readonly set: FidelitySet,
    private readonly student: LayersModel,
    readonly criterion: GuardCriterion = 'kl',
  ) {
    if (!GUARD_CRITERIA.includes(criterion)) {
      throw new RangeError(`FidelityGuard: criterion must be 'kl' or 'agreement', got ${JSON.stringify(criterion)}`);
    }
  }

  /** Measures the student as it is now; keeps its weights if it is the best so far. */
  check(iteration: number): GuardCheckpoint & { best: boolean } {
    const checkpoint = { iteration, fidelity: this.set.measure(this.student) };
    this.history.push(checkpoint);
    this.lastCheck = checkpoint;
    const best = !this.bestCheck || this.better(checkpoint.fidelity, this.bestCheck.fidelity);
    if (best) {
      dispose(this.bestWeights ?? []);
      this.bestWeights = this.student.getWeights().map((w) => w.clone());
      this.bestCheck = checkpoint;
    }
    return { ...checkpoint, best };
  }

  /** The best check so far (null before the first). */
  get best(): GuardCheckpoint | null {
    return this.bestCheck;
  }

  /**
   * Gives the student the weights of the best check, unless the last check (the
   * student's current state) was the best, and returns that check.
   * @throws if nothing was checked yet.
   */
  restoreBest(): GuardCheckpoint {
    if (!this.bestCheck || !this.bestWeights) throw new Error('FidelityGuard: restoreBest before any check');
    if (this.bestCheck !== this.lastCheck) this.student.setWeights(this.bestWeights);
    return this.bestCheck;
  }

  /** Releases the kept weights. */
  dispose(): void {
    dispose(this.bestWeights ?? []);
    this.bestWeights = null;
  }

  private better(a: Fidelity, b: Fidelity): boolean {
    if (this.criterion === 'kl') return a.all.kl < b.all.kl;
    return a.all.agreement > b.all.agreement || (a.all.agreement === b.all.agreement && a.all.kl < b.all.kl);
  }
}
