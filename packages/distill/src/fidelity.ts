import { perImageFidelity, withFrozenActivationRanges } from '@qimera/quantizers';
import { SeededRandom, sampleLabels } from '@qimera/superposition';
import { dispose, type Tensor, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { SynthesisPool } from './synthesis_pool.js';
import { type SynthesisStyle, synthesisStyle } from './synthesize.js';

/** How closely a student follows its teacher on a set of images. */
export interface FidelityScores {
  /** Share of images on which student and teacher pick the same top-1 class. */
  agreement: number;
  /** Mean over images of KL(teacher softmax ‖ student softmax), in nats. */
  kl: number;
}

/** Fidelity on the plain-class images, the superposed ones, and all of them. */
export interface Fidelity {
  plain: FidelityScores;
  superposed: FidelityScores;
  all: FidelityScores;
}

/** Options of {@link FidelitySet.synthesize}; the style options are `synthesizeImages`'. */
export interface FidelitySetOptions extends SynthesisStyle {
  /** Images in all, half plain-class and half superposed. Default 128. */
  images?: number;
  /** Synthesis steps (see `synthesizeImages`). Default 20. */
  steps?: number;
  /** Images optimised together; fewer use less memory. Default: half the set (the plain images). */
  batchSize?: number;
  /** Classes mixed in a superposed image (K). Default 2. */
  slots?: number;
  /** Default 1. Use a seed that training does not use. */
  seed?: number;
  /**
   * Threads to synthesize on: 2 adds a Node.js worker thread for every other batch (see
   * `SynthesisPool`; the same images). Default 1.
   */
  workers?: number;
  signal?: AbortSignal;
}

/**
 * A fixed, seeded set of synthesized images with the teacher's logits on them, to
 * measure a student's agreement with its teacher without any data. The images come
 * from `synthesizeImages`, not from the generator being trained, so training never
 * sees them and the set does not move while it runs. Half target one class, half a
 * superposition of `slots` classes (boundary samples, where low-bit students part from
 * their teacher first).
 */
export class FidelitySet {
  private constructor(
    private readonly images: Tensor,
    private readonly teacherLogits: Tensor,
    /** Images `[0, plain)` are plain-class, the rest superposed. */
    readonly plain: number,
  ) {}

  /** Synthesizes the set for `teacher` (needs BatchNormalization layers). */
  static async synthesize(teacher: LayersModel, options: FidelitySetOptions = {}): Promise<FidelitySet> {
    const count = options.images ?? 128;
    if (!Number.isInteger(count) || count < 2) {
      throw new RangeError(`FidelitySet: images must be an integer of at least 2, got ${count}`);
    }
    const numClasses = teacher.outputs[0]?.shape[1] as number;
    const rng = new SeededRandom(options.seed ?? 1);
    const plain = Math.ceil(count / 2);
    const label = (batchSize: number, superposed: boolean) =>
      sampleLabels(rng, {
        batchSize,
        numClasses,
        superposeProbability: superposed ? 1 : 0,
        slots: superposed ? (options.slots ?? 2) : 1,
      }).targets;
    const targets = new Float32Array(count * numClasses);
    targets.set(label(plain, false));
    targets.set(label(count - plain, true), plain * numClasses);
    const pool = await SynthesisPool.start(teacher, options.workers ?? 1);
    let images: Tensor;
    try {
      images = await pool.synthesize({
        targets,
        batchSize: options.batchSize ?? plain,
        steps: options.steps ?? 20,
        seed: rng.nextSeed(),
        ...synthesisStyle(options),
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } finally {
      await pool.dispose();
    }
    const teacherLogits = tidy(() => teacher.predict(images) as Tensor);
    return new FidelitySet(images, teacherLogits, plain);
  }

  /** Images in the set. */
  get size(): number {
    return this.images.shape[0] as number;
  }

  /**
   * The student's fidelity on the set. Activation ranges that are still calibrating
   * are held fixed meanwhile, so measuring never moves them.
   */
  measure(student: LayersModel): Fidelity {
    const [sameTop, divergence] = withFrozenActivationRanges(student, () =>
      tidy(() => {
        const { agreement, kl } = perImageFidelity(student.predict(this.images) as Tensor, this.teacherLogits);
        return [agreement, kl];
      }),
    ) as [Tensor, Tensor];
    const agree = sameTop.dataSync() as Float32Array;
    const kl = divergence.dataSync() as Float32Array;
    dispose([sameTop, divergence]);
    const scores = (from: number, to: number): FidelityScores => ({
      agreement: average(agree, from, to),
      kl: average(kl, from, to),
    });
    return { plain: scores(0, this.plain), superposed: scores(this.plain, this.size), all: scores(0, this.size) };
  }

  dispose(): void {
    dispose([this.images, this.teacherLogits]);
  }
}

function average(values: Float32Array, from: number, to: number): number {
  let total = 0;
  for (let i = from; i < to; i++) total += values[i] as number;
  return to > from ? total / (to - from) : Number.NaN;
}
