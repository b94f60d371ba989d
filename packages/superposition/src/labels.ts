import type { SeededRandom } from './random.js';

/** The classes, mixing coefficients and soft targets of one batch. */
export interface LabelBatch {
  batchSize: number;
  numClasses: number;
  /** Whether this batch is superposed (K slots per sample) or plain (1 slot). */
  superposed: boolean;
  /** Slots per sample: K when superposed, else 1. */
  slots: number;
  /** `batchSize * slots` class ids, sample-major. */
  classes: Int32Array;
  /** `batchSize * slots` coefficients λ, summing to 1 per sample. */
  coefficients: Float32Array;
  /** `batchSize * numClasses` soft targets: Σ_k λ_k onehot(c_k) (repeated classes add up). */
  targets: Float32Array;
}

/** Options of {@link sampleLabels}. */
export interface LabelSamplerOptions {
  batchSize: number;
  numClasses: number;
  /** Probability that a batch is superposed. Qimera 0.4; 0 gives plain GDFQ batches. */
  superposeProbability: number;
  /** Classes per superposed sample (K), drawn with replacement. */
  slots: number;
}

/**
 * Draws one batch of labels. With probability `superposeProbability` the whole batch is
 * superposed: each sample gets K uniformly drawn classes and coefficients
 * `softmax(g)`, `g ~ N(0, I_K)`; otherwise each sample gets one class with coefficient 1.
 */
export function sampleLabels(rng: SeededRandom, options: LabelSamplerOptions): LabelBatch {
  const { batchSize, numClasses } = options;
  validateSampler(options);
  const superposed = options.slots > 1 && rng.uniform() < options.superposeProbability;
  const slots = superposed ? options.slots : 1;
  const classes = new Int32Array(batchSize * slots);
  const coefficients = new Float32Array(batchSize * slots);
  const targets = new Float32Array(batchSize * numClasses);
  for (let i = 0; i < batchSize; i++) {
    const logits = Array.from({ length: slots }, () => (superposed ? rng.normal() : 0));
    const top = Math.max(...logits);
    const weights = logits.map((g) => Math.exp(g - top));
    const total = weights.reduce((a, b) => a + b, 0);
    for (let k = 0; k < slots; k++) {
      const c = rng.int(numClasses);
      const lambda = (weights[k] as number) / total;
      classes[i * slots + k] = c;
      coefficients[i * slots + k] = lambda;
      targets[i * numClasses + c] = (targets[i * numClasses + c] as number) + lambda;
    }
  }
  return { batchSize, numClasses, superposed, slots, classes, coefficients, targets };
}

function validateSampler({ batchSize, numClasses, superposeProbability, slots }: LabelSamplerOptions): void {
  const positive: [string, number][] = [
    ['batchSize', batchSize],
    ['numClasses', numClasses],
    ['slots', slots],
  ];
  for (const [name, value] of positive) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`sampleLabels: ${name} must be a positive integer, got ${value}`);
  }
  if (!(superposeProbability >= 0 && superposeProbability <= 1)) {
    throw new RangeError(`sampleLabels: superposeProbability must be in [0, 1], got ${superposeProbability}`);
  }
}

/** Samples `from` (inclusive) to `to` (exclusive) of a label batch. */
export function sliceLabels(labels: LabelBatch, from: number, to: number): LabelBatch {
  if (!(Number.isInteger(from) && Number.isInteger(to) && 0 <= from && from < to && to <= labels.batchSize)) {
    throw new RangeError(`sliceLabels: need 0 <= from < to <= ${labels.batchSize}, got ${from} and ${to}`);
  }
  return {
    ...labels,
    batchSize: to - from,
    classes: labels.classes.slice(from * labels.slots, to * labels.slots),
    coefficients: labels.coefficients.slice(from * labels.slots, to * labels.slots),
    targets: labels.targets.slice(from * labels.numClasses, to * labels.numClasses),
  };
}
