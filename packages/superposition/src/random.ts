/**
 * A small seeded pseudo-random generator (mulberry32): the same seed gives the same
 * label batches and the same tfjs seeds, so runs are reproducible.
 */
export class SeededRandom {
  private current: number;

  /** `new SeededRandom(random.state)` continues exactly where `random` is. */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`SeededRandom: seed must be a finite number, got ${seed}`);
    this.current = Math.floor(seed) >>> 0;
  }

  /** The generator's position: a seed that continues the sequence from here. */
  get state(): number {
    return this.current;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    this.current = (this.current + 0x6d2b79f5) >>> 0;
    let t = this.current;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u = 1 - this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }

  /** A fresh seed for a tfjs random op (tfjs treats 0 as "unseeded", so never 0). */
  nextSeed(): number {
    return 1 + this.int(2 ** 31 - 2);
  }
}
