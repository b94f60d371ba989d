import type { ClassEmbedding } from '@qimera/superposition';
import { dispose, type Optimizer, type Tensor, tensor, tidy, type Variable } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** `format` of every {@link DistillCheckpoint}. */
export const CHECKPOINT_FORMAT = 'qimera-distill-checkpoint';
/** Version of the {@link DistillCheckpoint} layout; other versions are refused. */
export const CHECKPOINT_VERSION = 1;

/** One saved tensor. */
export interface CheckpointTensor {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

/** An optimizer's state: its `getWeights()` plus what tfjs's `setWeights` would recompute inexactly. */
export interface OptimizerState {
  weights: CheckpointTensor[];
  /** Adam's running powers beta1^t and beta2^t (tfjs recomputes them with pow, which rounds differently). */
  adamPowers?: [number, number];
}

/**
 * Everything {@link distill} needs to continue a run where it stopped: every weight of
 * the student (activation ranges included), generator, mapping and embedding, both
 * optimizers' states, the random source's position, the iteration, whether ranges
 * are frozen, and the training time spent. Plain data: store it as you like (Node:
 * `saveCheckpoint` / `loadCheckpoint` in `qimera/node`).
 */
export interface DistillCheckpoint {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  /** Iterations done. */
  iteration: number;
  rangesFrozen: boolean;
  /** Training time spent; a time budget continues from it. */
  elapsedMs: number;
  /** `SeededRandom.state` of the labels and noise seeds. */
  randomState: number;
  models: {
    student: CheckpointTensor[];
    generator: CheckpointTensor[];
    mapping: CheckpointTensor[];
    embedding: CheckpointTensor[];
  };
  optimizers: { generator: OptimizerState; student: OptimizerState };
}

/** When and where {@link distill} writes checkpoints. */
export interface CheckpointOptions {
  /** Iterations between checkpoints. Default: none by count (give this or `everyMinutes`). */
  everyIterations?: number;
  /** Minutes between checkpoints. */
  everyMinutes?: number;
  /**
   * Stores a checkpoint; awaited before training goes on. Also called when the run
   * ends (done, out of time or aborted), so an abort leaves a checkpoint of the state
   * it returns. Not called after a divergence.
   */
  save: (checkpoint: DistillCheckpoint) => Promise<void> | void;
}

/** When checkpoints are due: every N iterations and / or every M minutes. */
export class CheckpointClock {
  lastSaved: number;
  private lastSavedAt = Date.now();

  constructor(
    private readonly options: CheckpointOptions,
    startIteration: number,
  ) {
    const { everyIterations, everyMinutes } = options;
    if (everyIterations !== undefined && !(Number.isInteger(everyIterations) && everyIterations >= 1)) {
      throw new RangeError(`distill: checkpoint.everyIterations must be a positive integer, got ${everyIterations}`);
    }
    if (everyMinutes !== undefined && !(everyMinutes > 0 && Number.isFinite(everyMinutes))) {
      throw new RangeError(`distill: checkpoint.everyMinutes must be a positive number, got ${everyMinutes}`);
    }
    if (typeof options.save !== 'function') throw new TypeError('distill: checkpoint.save must be a function');
    this.lastSaved = startIteration;
  }

  due(iteration: number): boolean {
    const { everyIterations, everyMinutes } = this.options;
    if (everyIterations !== undefined && iteration % everyIterations === 0) return true;
    return everyMinutes !== undefined && Date.now() - this.lastSavedAt >= everyMinutes * 60_000;
  }

  async save(checkpoint: DistillCheckpoint): Promise<void> {
    await this.options.save(checkpoint);
    this.lastSaved = checkpoint.iteration;
    this.lastSavedAt = Date.now();
  }
}

/** Every weight of a model (trainable or not), copied out. */
export function modelTensors(model: LayersModel | null): CheckpointTensor[] {
  return (model?.weights ?? []).map((weight) => copied(weight.originalName, weight.read() as Variable));
}

/** The embedding table, copied out. */
export function embeddingTensors(embedding: ClassEmbedding | null): CheckpointTensor[] {
  return embedding ? [copied('embedding', embedding.table)] : [];
}

/** The models a checkpoint restores into. */
export interface RestorableModels {
  student: LayersModel;
  generator: LayersModel | null;
  mapping: LayersModel | null;
  embedding: ClassEmbedding | null;
}

/**
 * Writes a checkpoint's weights into models built like the saved ones; every part is
 * checked before any is written, so a refusal leaves the models as they were.
 * @throws Error naming the part and weight when a count, a name or a shape differs,
 *   or when the checkpoint's format or version is not this one's.
 */
export function restoreModels(models: RestorableModels, checkpoint: DistillCheckpoint): void {
  checkCheckpoint(checkpoint);
  const table = models.embedding?.table;
  const pairs: [LayersModel | null, CheckpointTensor[], string][] = [
    [models.student, checkpoint.models.student, 'student'],
    [models.generator, checkpoint.models.generator, 'generator'],
    [models.mapping, checkpoint.models.mapping, 'mapping'],
  ];
  for (const [model, saved, part] of pairs) {
    const weights = (model?.weights ?? []).map((w) => ({ name: w.originalName, shape: w.shape as number[] }));
    checkFits(weights, saved, part);
  }
  checkFits(table ? [{ name: 'embedding', shape: table.shape }] : [], checkpoint.models.embedding, 'embedding');
  for (const [model, saved] of pairs) {
    if (!model || saved.length === 0) continue;
    const values = saved.map(asTensor);
    model.setWeights(values);
    dispose(values);
  }
  if (table) {
    const value = asTensor(checkpoint.models.embedding[0] as CheckpointTensor);
    table.assign(value);
    value.dispose();
  }
}

/** An optimizer's state, copied out. */
export async function optimizerState(optimizer: Optimizer): Promise<OptimizerState> {
  const weights = await optimizer.getWeights();
  const state: OptimizerState = { weights: weights.map((w) => copied(w.name, w.tensor)) };
  // getWeights makes a fresh iteration-count scalar each call; the rest are the optimizer's own.
  weights[0]?.tensor.dispose();
  const powers = adamPowers(optimizer);
  if (powers) state.adamPowers = [powers[0].dataSync()[0] as number, powers[1].dataSync()[0] as number];
  return state;
}

/** Puts a saved state into a fresh optimizer of the same kind. */
export async function restoreOptimizer(optimizer: Optimizer, state: OptimizerState): Promise<void> {
  if (state.weights.length === 0) return;
  const values: { name: string; tensor: Tensor }[] = state.weights.map((w) => ({ name: w.name, tensor: asTensor(w) }));
  await optimizer.setWeights(values);
  dispose(values.map((v) => v.tensor));
  const powers = adamPowers(optimizer);
  if (powers && state.adamPowers) {
    tidy(() => {
      powers[0].assign(tensor(state.adamPowers?.[0] as number));
      powers[1].assign(tensor(state.adamPowers?.[1] as number));
    });
  }
}

/**
 * The checkpoint's format and version, or an error naming what is wrong.
 * @throws Error when `checkpoint` is not a {@link DistillCheckpoint} this version reads.
 */
export function checkCheckpoint(checkpoint: DistillCheckpoint): void {
  if (checkpoint?.format !== CHECKPOINT_FORMAT) {
    throw new Error(`distill: resumeFrom is not a distill checkpoint (format ${JSON.stringify(checkpoint?.format)})`);
  }
  if (checkpoint.version !== CHECKPOINT_VERSION) {
    throw new Error(
      `distill: resumeFrom has checkpoint version ${JSON.stringify(checkpoint.version)}; this version reads ${CHECKPOINT_VERSION}`,
    );
  }
  if (!(Number.isInteger(checkpoint.iteration) && checkpoint.iteration >= 0)) {
    throw new Error(`distill: resumeFrom.iteration must be a non-negative integer, got ${checkpoint.iteration}`);
  }
}

function checkFits(expected: { name: string; shape: readonly number[] }[], saved: CheckpointTensor[], part: string) {
  if (expected.length !== saved.length) {
    throw new Error(
      `distill: the checkpoint's ${part} has ${saved.length} weights, this run's has ${expected.length}: resume with the options of the saved run`,
    );
  }
  expected.forEach((weight, i) => {
    const other = saved[i] as CheckpointTensor;
    if (other.name !== weight.name || other.shape.join() !== weight.shape.join()) {
      throw new Error(
        `distill: the checkpoint's ${part} weight ${i} is '${other.name}' [${other.shape}], this run's is '${weight.name}' [${weight.shape}]`,
      );
    }
  });
}

function copied(name: string, value: { shape: number[]; dtype: string; dataSync(): ArrayLike<number> }) {
  const dtype = value.dtype === 'int32' ? 'int32' : 'float32';
  const data = value.dataSync();
  return {
    name,
    shape: [...value.shape],
    dtype,
    values: dtype === 'int32' ? Int32Array.from(data) : Float32Array.from(data),
  } satisfies CheckpointTensor;
}

function asTensor(saved: CheckpointTensor) {
  return tensor(saved.values, saved.shape, saved.dtype);
}

/** Adam's private running powers (tfjs 4.x keeps them as `accBeta1` / `accBeta2`), if any. */
function adamPowers(optimizer: Optimizer): [Variable, Variable] | null {
  const { accBeta1, accBeta2 } = optimizer as unknown as { accBeta1?: Variable; accBeta2?: Variable };
  return accBeta1 && accBeta2 ? [accBeta1, accBeta2] : null;
}
