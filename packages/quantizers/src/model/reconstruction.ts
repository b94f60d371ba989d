import {
  add,
  concat,
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
} from '@tensorflow/tfjs-core';
import { type LayersModel, model, type SymbolicTensor, type layers as tfLayers } from '@tensorflow/tfjs-layers';
import { QuantizedWeightLayer } from '../layers/quantized_weight_layer.js';
import { SoftRounding } from '../math/soft_rounding.js';
import { splitIntoBatches } from './batches.js';
import { activationQuantizers } from './calibration.js';

type Layer = tfLayers.Layer;

/** Options of {@link reconstructRounding}. */
export interface RoundingReconstructionOptions {
  /** Optimisation steps per layer, at most (see `timeBudgetMs`). Default 2000. */
  iterations?: number;
  /**
   * Time for the whole reconstruction, in ms: each layer's steps are cut so that the
   * remaining time is shared evenly among the remaining layers (its step time is
   * measured over its first steps). Default: none, every layer takes `iterations`.
   */
  timeBudgetMs?: number;
  /** Images per step. Default 32. */
  batchSize?: number;
  /**
   * Images per forward pass when caching a layer's inputs and targets (each pass holds
   * the model's intermediates for them); fewer use less memory. Default 32.
   */
  forwardBatchSize?: number;
  /** Adam's learning rate for the rounding logits. Default 0.01. */
  learningRate?: number;
  /** Weight of the regularizer that makes rounding hard (AdaRound's λ). Default 0.01. */
  roundingWeight?: number;
  /** Share of each layer's steps before the regularizer starts. Default 0.2. */
  warmup?: number;
  /**
   * Stops after the current step: the layer in progress is rounded as its logits stand
   * (kept if that lowers its error), the layers after it keep rounding to nearest.
   */
  signal?: AbortSignal;
  /** After each layer. */
  onLayer?: (layer: LayerReconstruction, index: number, count: number) => void;
}

/** What {@link reconstructRounding} did to one layer. */
export interface LayerReconstruction {
  name: string;
  /** Mean squared error of the layer's unit output against the float model's, rounding to nearest. */
  errorBefore: number;
  /** The same error with the rounding kept (never above `errorBefore`: a worse rounding is not kept). */
  errorAfter: number;
  /** Share of kernel elements rounded the other way than to nearest. */
  changed: number;
  /** Whether the learned rounding was kept. */
  kept: boolean;
  iterations: number;
}

/** What {@link reconstructRounding} did. */
export interface ReconstructionReport {
  layers: LayerReconstruction[];
  /** Quantized layers left as they were, with why. */
  skipped: { name: string; reason: string }[];
  aborted: boolean;
  wallTimeMs: number;
}

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
 * the quantization of the layers before, matches the float model's. A rounding that
 * does not lower the error on the images is not kept. Ranges, biases and activation
 * ranges are unchanged; re-calibrating activation ranges afterwards can help.
 *
 * Each layer's inputs and targets for all images are held in memory during its
 * optimisation: the images times the layer's input and unit-output sizes, next to the
 * images themselves and one forward pass of `forwardBatchSize` images.
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
  const report: ReconstructionReport = { layers: [], skipped: [], aborted: false, wallTimeMs: 0 };
  const candidates = student.layers.filter((l): l is QuantizedWeightLayer => l instanceof QuantizedWeightLayer);
  const deadline = options.timeBudgetMs === undefined ? null : started + options.timeBudgetMs;
  const batches = splitIntoBatches(images, settings.forwardBatchSize);
  try {
    for (const [index, layer] of candidates.entries()) {
      if (options.signal?.aborted) {
        report.aborted = true;
        break;
      }
      const reason = layer.kernelOnGrid
        ? 'its kernel is stored on its grid'
        : layer.inboundNodes.length !== 1
          ? 'it is shared (called more than once)'
          : null;
      if (reason) {
        report.skipped.push({ name: layer.name, reason });
        continue;
      }
      // This layer's share of the time left, in steps of the measured duration.
      const stepsFor = (msPerStep: number) =>
        deadline === null
          ? settings.iterations
          : Math.min(
              settings.iterations,
              Math.floor((deadline - Date.now()) / (candidates.length - index) / msPerStep),
            );
      const done = await reconstructLayer(student, layer, reference, batches, settings, stepsFor, options.signal);
      report.layers.push(done);
      options.onLayer?.(done, index, candidates.length);
      if (options.signal?.aborted) {
        report.aborted = true;
        break;
      }
    }
  } finally {
    dispose(batches);
  }
  report.wallTimeMs = Date.now() - started;
  return report;
}

type Settings = Required<Omit<RoundingReconstructionOptions, 'signal' | 'onLayer' | 'timeBudgetMs'>>;

function checkOptions(options: RoundingReconstructionOptions): Settings {
  const settings: Settings = {
    iterations: options.iterations ?? 2000,
    batchSize: options.batchSize ?? 32,
    forwardBatchSize: options.forwardBatchSize ?? 32,
    learningRate: options.learningRate ?? 0.01,
    roundingWeight: options.roundingWeight ?? 0.01,
    warmup: options.warmup ?? 0.2,
  };
  for (const name of ['iterations', 'batchSize', 'forwardBatchSize'] as const) {
    const value = settings[name];
    if (!(Number.isInteger(value) && value >= 1)) {
      throw new RangeError(`reconstructRounding: ${name} must be a positive integer, got ${String(value)}`);
    }
  }
  for (const name of ['learningRate', 'roundingWeight'] as const) {
    const value = settings[name];
    if (!(Number.isFinite(value) && value > 0)) {
      throw new RangeError(`reconstructRounding: ${name} must be a positive number, got ${String(value)}`);
    }
  }
  const budget = options.timeBudgetMs;
  if (budget !== undefined && !(Number.isFinite(budget) && budget > 0)) {
    throw new RangeError(`reconstructRounding: timeBudgetMs must be a positive number, got ${String(budget)}`);
  }
  if (!(settings.warmup >= 0 && settings.warmup < 1)) {
    throw new RangeError(`reconstructRounding: warmup must be in [0, 1), got ${String(settings.warmup)}`);
  }
  return settings;
}

async function reconstructLayer(
  student: LayersModel,
  layer: QuantizedWeightLayer,
  reference: LayersModel,
  images: Tensor[],
  settings: Settings,
  stepsFor: (msPerStep: number) => number,
  signal: AbortSignal | undefined,
): Promise<LayerReconstruction> {
  const chain = unitChain(layer);
  const end = chain.at(-1) ?? layer;
  const twin = reference.layers.find((l) => l.name === end.name);
  if (!twin) {
    throw new Error(`reconstructRounding: layer '${end.name}' has no float twin in '${reference.name}'`);
  }
  const studentInputs = model({ inputs: student.inputs, outputs: layer.input as SymbolicTensor });
  const referenceOutputs = model({ inputs: reference.inputs, outputs: twin.output as SymbolicTensor });
  // Cached per forward batch, then re-cut into the optimisation's batches.
  const xs = rebatch(
    images.map((batch) => studentInputs.predict(batch) as Tensor),
    settings.batchSize,
  );
  const ys = rebatch(
    images.map((batch) => referenceOutputs.predict(batch) as Tensor),
    settings.batchSize,
  );
  const unit = (x: Tensor, kernel: Tensor) =>
    chain.reduce((out, next) => next.apply(out) as Tensor, layer.applyKernel(x, kernel));
  const original = layer.kernelWeight.read().clone();
  const range = layer.kernelRange(original);
  const rounding = new SoftRounding(original, range, layer.weightSpec);
  dispose([range.min, range.max]);
  const optimizer = train.adam(settings.learningRate);
  try {
    const errorBefore = meanSquaredError(xs, ys, unit, layer);
    let total = settings.iterations;
    let warmupSteps = Math.floor(settings.warmup * total);
    const probeStarted = Date.now();
    let step = 0;
    for (; step < total; step++) {
      if (signal?.aborted) break;
      if (step === PROBE_STEPS) {
        total = Math.max(PROBE_STEPS, stepsFor((Date.now() - probeStarted) / PROBE_STEPS));
        warmupSteps = Math.floor(settings.warmup * total);
        if (step >= total) break;
      }
      const b = step % xs.length;
      const beta = BETA_END + (BETA_START - BETA_END) * (1 - Math.max(0, step - warmupSteps) / (total - warmupSteps));
      const regularized = step >= warmupSteps;
      optimizer.minimize(
        () =>
          tidy(() => {
            const x = xs[b] as Tensor;
            const error = div(sum(square(sub(unit(x, rounding.softKernel()), ys[b] as Tensor))), x.shape[0] as number);
            return (
              regularized ? add(error, mul(rounding.regularizer(beta), settings.roundingWeight)) : error
            ) as Scalar;
          }),
        false,
        [rounding.logits],
      );
      if (step % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    tidy(() => {
      layer.kernelWeight.write(rounding.masterKernel());
    });
    const errorAfter = meanSquaredError(xs, ys, unit, layer);
    const kept = errorAfter <= errorBefore;
    if (!kept) layer.kernelWeight.write(original);
    return {
      name: layer.name,
      errorBefore,
      errorAfter: kept ? errorAfter : errorBefore,
      changed: kept ? rounding.changedShare() : 0,
      kept,
      iterations: step,
    };
  } finally {
    optimizer.dispose();
    rounding.dispose();
    dispose([original, ...xs, ...ys]);
  }
}

/** `parts` joined along the first axis and split into batches of `batchSize`; `parts` are disposed. */
function rebatch(parts: Tensor[], batchSize: number): Tensor[] {
  if (parts.length === 1 && (parts[0] as Tensor).shape[0] === batchSize) return parts;
  const whole = concat(parts);
  dispose(parts);
  try {
    return splitIntoBatches(whole, batchSize);
  } finally {
    whole.dispose();
  }
}

/**
 * The layers after `layer` that form its unit: BatchNormalization and ReLU / Activation
 * layers, each the only consumer of the one before (so their output is this layer's alone).
 */
function unitChain(layer: Layer): Layer[] {
  const chain: Layer[] = [];
  let current = layer;
  for (;;) {
    const consumers = current.outboundNodes.map((node) => node.outboundLayer);
    const next = consumers.length === 1 ? consumers[0] : undefined;
    if (!next || !UNIT_LAYERS.has(next.getClassName()) || next.inboundNodes.length !== 1) return chain;
    chain.push(next);
    current = next;
  }
}

// The student's ActivationQuantizer after the ReLU stays out: with it in the unit (the
// target its float input) MNIST W3A3 measured 88.6% against 89.5% (three seeds each).
const UNIT_LAYERS = new Set(['BatchNormalization', 'ReLU', 'Activation']);

/** Mean squared error of the unit's output with the layer's own (nearest-rounded) kernel. */
function meanSquaredError(
  xs: Tensor[],
  ys: Tensor[],
  unit: (x: Tensor, kernel: Tensor) => Tensor,
  layer: QuantizedWeightLayer,
): number {
  return tidy(() => {
    const kernel = layer.quantizedKernel();
    let total = 0;
    let count = 0;
    xs.forEach((x, i) => {
      const y = ys[i] as Tensor;
      total += sum(square(sub(unit(x, kernel), y))).dataSync()[0] as number;
      count += y.size;
    });
    return total / count;
  });
}
