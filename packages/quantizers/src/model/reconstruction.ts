import {
  add,
  addN,
  dispose,
  div,
  mul,
  type Scalar,
  square,
  sub,
  sum,
  type Tensor,
  tidy,
  train,
  variableGrads,
} from '@tensorflow/tfjs-core';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-layers';
import { SoftRounding } from '../math/soft_rounding.js';
import { splitIntoBatches } from './batches.js';
import { activationQuantizers } from './calibration.js';
import { LearnedActivationStep } from './learned_activation_step.js';
import {
  blockUnits,
  layerUnits,
  RECONSTRUCTION_GRANULARITIES,
  type ReconstructionGranularity,
  type ReconstructionUnit,
} from './reconstruction_units.js';
import { StagedForward } from './staged_forward.js';

/** Options of {@link reconstructRounding}. */
export interface RoundingReconstructionOptions {
  /** Optimisation steps per unit (a layer, or a block), at most (see `timeBudgetMs`). Default 1000. */
  iterations?: number;
  /**
   * Time for the whole reconstruction, in ms: each layer's steps are cut so that the
   * remaining time is shared evenly among the remaining layers (its step time is
   * measured over its first steps), and layers that would start after the time is spent
   * keep their rounding to nearest (listed in `skipped`): at 224x224 a layer's 10
   * timing steps alone can take seconds. Default: none, every layer takes `iterations`.
   */
  timeBudgetMs?: number;
  /**
   * `'layer'` (default, AdaRound): each quantized layer's rounding is learned on its own
   * output (with the BatchNormalization and ReLU after it). `'block'` (BRECQ, Li et al.
   * 2021): the layers a residual connection spans (a residual block) are learned
   * together on the block's output; elsewhere a block is one layer.
   */
  granularity?: ReconstructionGranularity;
  /** Images per step, and per forward pass of a layer while the inputs and targets are computed. Default 32. */
  batchSize?: number;
  /** Adam's learning rate for the rounding logits. Default 0.01. */
  learningRate?: number;
  /** Weight of the regularizer that makes rounding hard (AdaRound's λ). Default 0.01. */
  roundingWeight?: number;
  /** Share of each layer's steps before the regularizer starts. Default 0.2. */
  warmup?: number;
  /**
   * Also learn the step sizes of activation quantizers (LSQ) jointly with the rounding,
   * so a range serves the unit's output rather than its input's: layer-wise, the
   * quantizer whose output reaches the layer alone (directly or through pooling,
   * padding, flattening); block-wise, every quantizer inside the block. Default true.
   */
  learnActivationSteps?: boolean;
  /** Adam's learning rate for the step size, relative to its calibrated value. Default 0.001. */
  stepLearningRate?: number;
  /**
   * Where a step is learned: the probability that an element of the layer's input keeps
   * its float value in an optimisation step instead of its quantized one (QDrop, Wei et
   * al. 2022), which makes the rounding fit a range of input errors. 0 to 1; default 0.
   */
  dropQuantization?: number;
  /** Seed of the drop masks. Default 1. */
  seed?: number;
  /**
   * Stops after the current step: the layer in progress is rounded as its logits stand
   * (kept if that lowers its error), the layers after it keep rounding to nearest.
   */
  signal?: AbortSignal;
  /** After each unit (a layer, or a block with `granularity: 'block'`). */
  onLayer?: (layer: LayerReconstruction, index: number, count: number) => void;
}

/** What {@link reconstructRounding} did to one unit: a layer, or a block of them. */
export interface LayerReconstruction {
  /** The unit's quantized layers' names, joined by '+'. */
  name: string;
  /** The unit's quantized layers. */
  layers: string[];
  /** Mean squared error of the unit's output against the float model's, rounding to nearest. */
  errorBefore: number;
  /** The same error with the rounding kept (never above `errorBefore`: a worse rounding is not kept). */
  errorAfter: number;
  /** Share of the unit's kernel elements rounded the other way than to nearest. */
  changed: number;
  /** Whether the learned rounding was kept. */
  kept: boolean;
  iterations: number;
  /** The activation quantizers whose step sizes were learned with the unit, before and after (as kept). */
  quantizers: { name: string; scaleBefore: number; scaleAfter: number }[];
}

/** What {@link reconstructRounding} did. */
export interface ReconstructionReport {
  layers: LayerReconstruction[];
  /** Quantized layers left as they were, with why. */
  skipped: { name: string; reason: string }[];
  aborted: boolean;
  wallTimeMs: number;
}

/** Images per optimisation step of {@link reconstructRounding} unless another count is given. */
export const RECONSTRUCTION_BATCH_SIZE = 32;

// β of the rounding regularizer, annealed from free (20) to hard (2), as in AdaRound.
const BETA_START = 20;
const BETA_END = 2;
// Steps timed before a layer's step count is fitted to a time budget.
const PROBE_STEPS = 10;
// Steps between yields to the event loop (an abort signal's timers need it to run).
const YIELD_EVERY = 10;

/**
 * Learned rounding by layer-wise reconstruction (AdaRound, Nagel et al. 2020) on the
 * given images, which may be synthesized: layer by layer in model order, each
 * quantized kernel's rounding (down or up, per element, on the grid its range gives) is
 * optimised so that the layer's unit output (the layer with the BatchNormalization and
 * ReLU / Activation layers that follow it alone) on the student's own inputs, which carry
 * the quantization of the layers before, matches the float model's. With it, the step
 * size of the activation quantizer feeding the layer is learned (LSQ), where that
 * quantizer feeds this layer alone (`learnActivationSteps`); optionally, with QDrop's
 * random float inputs (`dropQuantization`). A rounding (and step) that does not lower
 * the error on the images is not kept. Weight ranges and biases are unchanged.
 *
 * With `granularity: 'block'` (BRECQ, Li et al. 2021) the unit is a block instead: the
 * layers a residual connection spans are learned together on the block's output, with
 * the step sizes of every activation quantizer inside it (elsewhere a block is one
 * layer); the report then has one entry per block.
 *
 * The student's and the float model's forward passes advance layer by layer with the
 * reconstruction (one forward pass of each in all): memory holds, for every image, the
 * values that cross the point each pass has reached (a layer's input, the unit's
 * target, and what residual connections carry past them), next to the images themselves.
 *
 * @param student a `quantizeModel` student of `reference` with calibrated, frozen
 *   activation ranges; its kernels are rewritten in place.
 * @param reference the float model with the student's layer names (the BN-folded one
 *   when the student was folded).
 * @param images the input images, `[n, height, width, channels]`.
 * @throws if an activation range is not frozen, or a layer has no same-named float twin.
 */
export async function reconstructRounding(
  student: LayersModel,
  reference: LayersModel,
  images: Tensor,
  options: RoundingReconstructionOptions = {},
): Promise<ReconstructionReport> {
  const started = Date.now();
  const settings = checkOptions(options);
  const calibrating = activationQuantizers(student).filter((quantizer) => !quantizer.frozen);
  if (calibrating.length > 0) {
    throw new Error(
      `reconstructRounding: activation quantizer '${calibrating[0]?.name}' is not frozen: ` +
        'calibrate the activation ranges first (calibrateActivationRanges)',
    );
  }
  const plan = (settings.granularity === 'block' ? blockUnits : layerUnits)(student, settings.learnActivationSteps);
  const report: ReconstructionReport = { layers: [], skipped: plan.skipped, aborted: false, wallTimeMs: 0 };
  const deadline = options.timeBudgetMs === undefined ? null : started + options.timeBudgetMs;
  const batches = splitIntoBatches(images, settings.batchSize);
  const passes: StagedForward[] = [];
  try {
    const studentPass = new StagedForward(student, batches);
    passes.push(studentPass);
    const referencePass = new StagedForward(reference, batches);
    passes.push(referencePass);
    let layersLeft = plan.units.reduce((n, unit) => n + unit.layers.length, 0);
    for (const [index, unit] of plan.units.entries()) {
      if (options.signal?.aborted) {
        report.aborted = true;
        break;
      }
      if (deadline !== null && Date.now() >= deadline) {
        for (const layer of unit.layers) report.skipped.push({ name: layer.name, reason: 'the time budget was spent' });
        continue;
      }
      // This unit's share of the time left (by its count of layers), in steps of the measured duration.
      const share = unit.layers.length / Math.max(1, layersLeft);
      layersLeft -= unit.layers.length;
      const stepsFor = (msPerStep: number) =>
        deadline === null
          ? settings.iterations
          : Math.min(settings.iterations, Math.floor(((deadline - Date.now()) * share) / msPerStep));
      const twin = reference.layers.find((l) => l.name === unit.output.name);
      if (!twin) {
        throw new Error(`reconstructRounding: layer '${unit.output.name}' has no float twin in '${reference.name}'`);
      }
      // Both stay the passes' own; the student's pass runs the unit as learned when it moves on.
      const xs = studentPass.valuesOf(unit.input);
      const ys = referencePass.valuesOf(twin.output as SymbolicTensor);
      const done = await reconstructUnit(unit, xs, ys, settings, stepsFor, options.signal);
      report.layers.push(done);
      options.onLayer?.(done, index, plan.units.length);
      if (options.signal?.aborted) {
        report.aborted = true;
        break;
      }
    }
  } finally {
    for (const pass of passes) pass.dispose();
    dispose(batches);
  }
  report.wallTimeMs = Date.now() - started;
  return report;
}

type Settings = Required<Omit<RoundingReconstructionOptions, 'signal' | 'onLayer' | 'timeBudgetMs'>>;

function checkOptions(options: RoundingReconstructionOptions): Settings {
  const settings: Settings = {
    iterations: options.iterations ?? 1000,
    granularity: options.granularity ?? 'layer',
    batchSize: options.batchSize ?? RECONSTRUCTION_BATCH_SIZE,
    learningRate: options.learningRate ?? 0.01,
    roundingWeight: options.roundingWeight ?? 0.01,
    warmup: options.warmup ?? 0.2,
    learnActivationSteps: options.learnActivationSteps ?? true,
    stepLearningRate: options.stepLearningRate ?? 0.001,
    dropQuantization: options.dropQuantization ?? 0,
    seed: options.seed ?? 1,
  };
  for (const name of ['iterations', 'batchSize'] as const) {
    const value = settings[name];
    if (!(Number.isInteger(value) && value >= 1)) {
      throw new RangeError(`reconstructRounding: ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  for (const name of ['learningRate', 'roundingWeight', 'stepLearningRate'] as const) {
    const value = settings[name];
    if (!(Number.isFinite(value) && value > 0)) {
      throw new RangeError(`reconstructRounding: ${name} must be a positive number, got ${String(value)}`);
    }
  }
  if (!RECONSTRUCTION_GRANULARITIES.includes(settings.granularity)) {
    throw new RangeError(
      `reconstructRounding: granularity must be 'layer' or 'block', got ${JSON.stringify(settings.granularity)}`,
    );
  }
  const budget = options.timeBudgetMs;
  if (budget !== undefined && !(Number.isFinite(budget) && budget > 0)) {
    throw new RangeError(`reconstructRounding: timeBudgetMs must be a positive number, got ${String(budget)}`);
  }
  if (!(settings.dropQuantization >= 0 && settings.dropQuantization <= 1)) {
    throw new RangeError(
      `reconstructRounding: dropQuantization must be in [0, 1], got ${String(settings.dropQuantization)}`,
    );
  }
  if (!Number.isInteger(settings.seed)) {
    throw new RangeError(`reconstructRounding: seed must be an integer, got ${String(settings.seed)}`);
  }
  if (!(settings.warmup >= 0 && settings.warmup < 1)) {
    throw new RangeError(`reconstructRounding: warmup must be in [0, 1), got ${String(settings.warmup)}`);
  }
  return settings;
}

/** Learns one unit's rounding (and steps) on its cached inputs `xs` and float targets `ys`. */
async function reconstructUnit(
  unit: ReconstructionUnit,
  xs: Tensor[],
  ys: Tensor[],
  settings: Settings,
  stepsFor: (msPerStep: number) => number,
  signal: AbortSignal | undefined,
): Promise<LayerReconstruction> {
  // Filled inside the try, so whatever was made before a failure is freed.
  const originals: Tensor[] = [];
  const roundings: SoftRounding[] = [];
  const steps: LearnedActivationStep[] = [];
  const optimizer = train.adam(settings.learningRate);
  const stepOptimizer = train.adam(settings.stepLearningRate);
  try {
    for (const layer of unit.layers) {
      const original = layer.kernelWeight.read().clone();
      originals.push(original);
      const range = layer.kernelRange(original);
      try {
        roundings.push(new SoftRounding(original, range, layer.weightSpec));
      } finally {
        dispose([range.min, range.max]);
      }
    }
    for (const quantizer of unit.quantizers)
      steps.push(new LearnedActivationStep(quantizer, settings.dropQuantization));
    const errorBefore = unitError(unit, steps, xs, ys);
    let total = settings.iterations;
    let warmupSteps = Math.floor(settings.warmup * total);
    const probeStarted = Date.now();
    let iteration = 0;
    for (; iteration < total; iteration++) {
      if (signal?.aborted) break;
      if (iteration === PROBE_STEPS) {
        total = Math.max(PROBE_STEPS, stepsFor((Date.now() - probeStarted) / PROBE_STEPS));
        warmupSteps = Math.floor(settings.warmup * total);
        if (iteration >= total) break;
      }
      const b = iteration % xs.length;
      const beta =
        BETA_END + (BETA_START - BETA_END) * (1 - Math.max(0, iteration - warmupSteps) / (total - warmupSteps));
      const regularized = iteration >= warmupSteps;
      const dropSeed = settings.seed + iteration;
      const loss = () =>
        tidy(() => {
          const x = xs[b] as Tensor;
          const out = unit.apply(
            x,
            roundings.map((r) => r.softKernel()),
            (i, value) => (steps[i] as LearnedActivationStep).feed(value, dropSeed),
          );
          const error = div(sum(square(sub(out, ys[b] as Tensor))), x.shape[0] as number);
          if (!regularized) return error as Scalar;
          const penalty = addN(roundings.map((r) => r.regularizer(beta)));
          return add(error, mul(penalty, settings.roundingWeight)) as Scalar;
        });
      const { value, grads } = variableGrads(loss, [
        ...roundings.map((r) => r.logits),
        ...steps.map((s) => s.multiplier),
      ]);
      optimizer.applyGradients(roundings.map((r) => ({ name: r.logits.name, tensor: grads[r.logits.name] as Tensor })));
      if (steps.length > 0) {
        stepOptimizer.applyGradients(
          steps.map((s) => ({ name: s.multiplier.name, tensor: grads[s.multiplier.name] as Tensor })),
        );
      }
      dispose([value, ...Object.values(grads)]);
      if (iteration % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    unit.layers.forEach((layer, i) => {
      tidy(() => {
        layer.kernelWeight.write((roundings[i] as SoftRounding).masterKernel());
      });
    });
    const errorAfter = unitError(unit, steps, xs, ys);
    const kept = errorAfter <= errorBefore;
    if (kept) for (const step of steps) step.writeToQuantizer();
    else for (const [i, layer] of unit.layers.entries()) layer.kernelWeight.write(originals[i] as Tensor);
    const elements = roundings.reduce((n, r) => n + r.logits.size, 0);
    const changed = roundings.reduce((n, r) => n + r.changedShare() * r.logits.size, 0) / Math.max(1, elements);
    return {
      name: unit.layers.map((l) => l.name).join('+'),
      layers: unit.layers.map((l) => l.name),
      errorBefore,
      errorAfter: kept ? errorAfter : errorBefore,
      changed: kept ? changed : 0,
      kept,
      iterations: iteration,
      quantizers: steps.map((step) => ({
        name: step.quantizer.name,
        scaleBefore: step.initial,
        scaleAfter: kept ? step.current() : step.initial,
      })),
    };
  } finally {
    optimizer.dispose();
    stepOptimizer.dispose();
    for (const r of roundings) r.dispose();
    for (const step of steps) step.dispose();
    dispose(originals);
  }
}

/** Mean squared error of the unit's output with its layers' own (as they stand) kernels and the current steps. */
function unitError(unit: ReconstructionUnit, steps: LearnedActivationStep[], xs: Tensor[], ys: Tensor[]): number {
  const kernels = unit.layers.map((layer) => layer.quantizedKernel());
  let total = 0;
  let count = 0;
  try {
    // A tidy per batch: the intermediates of all batches at once would cost as much as the cached inputs.
    xs.forEach((x, i) => {
      const y = ys[i] as Tensor;
      total += tidy(
        () =>
          sum(
            square(
              sub(
                unit.apply(x, kernels, (q, value) => (steps[q] as LearnedActivationStep).feed(value)),
                y,
              ),
            ),
          ).dataSync()[0] as number,
      );
      count += y.size;
    });
  } finally {
    dispose(kernels);
  }
  return total / count;
}
