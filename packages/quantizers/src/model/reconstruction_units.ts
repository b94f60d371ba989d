import type { Tensor } from '@tensorflow/tfjs-core';
import type { LayersModel, SymbolicTensor, layers as tfLayers } from '@tensorflow/tfjs-layers';
import { ActivationQuantizer } from '../layers/activation_quantizer.js';
import { QuantizedWeightLayer } from '../layers/quantized_weight_layer.js';
import { QUANTIZED_TWINS } from './layer_kinds.js';
import { elementsPerImage } from './shapes.js';

type Layer = tfLayers.Layer;

/** What learned rounding optimises at once: one layer, or a block of them. */
export type ReconstructionGranularity = 'layer' | 'block';
/** Every {@link ReconstructionGranularity}. */
export const RECONSTRUCTION_GRANULARITIES: readonly ReconstructionGranularity[] = ['layer', 'block'];

/** A part of the student whose kernels' rounding (and quantizers' steps) are learned together. */
export interface ReconstructionUnit {
  /** The quantized layers whose rounding is learned, in model order. */
  layers: QuantizedWeightLayer[];
  /** The frozen activation quantizers whose step size is learned with them: all their consumers are in the unit. */
  quantizers: ActivationQuantizer[];
  /** The student tensor whose values are the unit's input. */
  input: SymbolicTensor;
  /** The student layer whose output is the unit's: its float twin (same name) gives the target. */
  output: Layer;
  /**
   * The unit's output for an input batch, with `kernels[i]` used as `layers[i]`'s kernel
   * and `quantize(i, x)` in place of `quantizers[i]`.
   */
  apply(x: Tensor, kernels: Tensor[], quantize: (index: number, x: Tensor) => Tensor): Tensor;
}

// Why a layer whose kernel was loaded on its grid (an exported model) learns no rounding.
const ON_GRID = 'its kernel is stored on its grid';

/** The units of a student, in model order, and the quantized layers none of them learns (with why). */
export interface ReconstructionPlan {
  units: ReconstructionUnit[];
  skipped: { name: string; reason: string }[];
}

/**
 * Layer-wise units (AdaRound): each quantized layer with the BatchNormalization and
 * ReLU layers that follow it alone; with `learnSteps`, also the activation quantizer
 * whose output reaches that layer alone (through pooling, padding, flattening).
 */
export function layerUnits(student: LayersModel, learnSteps: boolean): ReconstructionPlan {
  const plan: ReconstructionPlan = { units: [], skipped: [] };
  for (const layer of student.layers) {
    if (!(layer instanceof QuantizedWeightLayer)) continue;
    const reason = layer.kernelOnGrid
      ? ON_GRID
      : layer.inboundNodes.length !== 1
        ? 'it is shared (called more than once)'
        : null;
    if (reason) {
      plan.skipped.push({ name: layer.name, reason });
      continue;
    }
    const chain = unitChain(layer);
    const feed = learnSteps ? inputQuantizerPath(layer) : null;
    plan.units.push({
      layers: [layer],
      quantizers: feed ? [feed.quantizer] : [],
      // With a learned step, the inputs are the quantizer's (float) inputs.
      input: (feed ? feed.quantizer.input : layer.input) as SymbolicTensor,
      output: chain.at(-1) ?? layer,
      apply: (x, [kernel], quantize) => {
        const input = feed ? feed.path.reduce((out, next) => next.apply(out) as Tensor, quantize(0, x)) : x;
        return chain.reduce((out, next) => next.apply(out) as Tensor, layer.applyKernel(input, kernel as Tensor));
      },
    });
  }
  return plan;
}

/**
 * Block-wise units (BRECQ, Li et al. 2021): the student is cut at every tensor that is
 * all a forward pass holds at that point (a residual block's output, the output of a
 * layer between blocks; never an activation quantizer's, whose float twin does not
 * exist); pieces without a quantized layer join a neighbour. So where a residual
 * connection crosses, a block is everything it spans (a residual block, with the
 * projection shortcut), and in a plain stack a block is one layer with its input
 * quantizer, pooling, BatchNormalization and ReLU. Each block's rounding is learned on
 * its output, and with `learnSteps` the step sizes of the activation quantizers inside it
 * (each feeds the block alone): residual connections are reconstructed with the layers
 * they join, which layer-wise units cannot do.
 *
 * @throws RangeError if a layer is called more than once (the cuts assume one call each).
 */
export function blockUnits(student: LayersModel, learnSteps: boolean): ReconstructionPlan {
  const shared = student.layers.find((l) => l.inboundNodes.length > 1);
  if (shared) {
    throw new RangeError(
      `reconstructRounding: granularity 'block' needs every layer called once; '${shared.name}' is called ` +
        `${shared.inboundNodes.length} times (use granularity 'layer')`,
    );
  }
  const plan: ReconstructionPlan = { units: [], skipped: [] };
  for (const layer of student.layers) {
    if (layer instanceof QuantizedWeightLayer && layer.kernelOnGrid) {
      plan.skipped.push({ name: layer.name, reason: ON_GRID });
    }
  }
  for (const piece of mergePieces(cutPieces(student))) {
    const layers = piece.calls.map((c) => c.layer);
    const learned = layers.filter((l): l is QuantizedWeightLayer => learnable(l));
    const quantizers = learnSteps
      ? layers.filter((l): l is ActivationQuantizer => l instanceof ActivationQuantizer)
      : [];
    plan.units.push({
      layers: learned,
      quantizers,
      input: piece.input,
      output: lastCall(piece).layer,
      apply: (x, kernels, quantize) => {
        const values = new Map<number, Tensor>([[piece.input.id, x]]);
        for (const { layer, inputs, output } of piece.calls) {
          const args = inputs.map((t) => {
            const value = values.get(t.id);
            if (!value)
              throw new Error(`reconstructRounding: block input '${t.name}' of '${layer.name}' is not computed`);
            return value;
          });
          const weight = learned.indexOf(layer as QuantizedWeightLayer);
          const quantizer = quantizers.indexOf(layer as ActivationQuantizer);
          // As StagedForward and the model's predict call a layer: a list of inputs.
          const out =
            weight >= 0
              ? (layer as QuantizedWeightLayer).applyKernel(args[0] as Tensor, kernels[weight] as Tensor)
              : quantizer >= 0
                ? quantize(quantizer, args[0] as Tensor)
                : (layer.apply(args) as Tensor);
          values.set(output.id, out);
        }
        return values.get(lastCall(piece).output.id) as Tensor;
      },
    });
  }
  return plan;
}

const learnable = (layer: Layer) => layer instanceof QuantizedWeightLayer && !layer.kernelOnGrid;

/**
 * Elements per image that one optimisation step of the largest unit computes, for
 * planning its memory before the student exists: on the float model, a unit's input,
 * every layer output inside it, and a quantized copy of each kernel layer's input (what
 * its activation quantizer gives in the student). Layer-wise, a unit is a layer with a
 * kernel and the BatchNormalization and ReLU layers after it; block-wise, the blocks
 * learned rounding cuts with `granularity: 'block'` (layer-wise units where a layer is
 * called twice, which blocks refuse).
 */
export function largestUnitElements(model: LayersModel, granularity: ReconstructionGranularity): number {
  const learns = (layer: Layer) => layer.getClassName() in QUANTIZED_TWINS;
  const spans =
    granularity === 'block' && model.layers.every((l) => l.inboundNodes.length <= 1)
      ? mergePieces(cutPieces(model), learns).map((piece) => ({
          input: piece.input,
          layers: piece.calls.map((c) => c.layer),
        }))
      : model.layers
          .filter(learns)
          .map((layer) => ({ input: layer.inboundNodes[0]?.inputTensors[0], layers: [layer, ...unitChain(layer)] }));
  let largest = 0;
  for (const { input, layers } of spans) {
    let elements = input ? elementsPerImage(input.shape) : 0;
    for (const layer of layers) {
      const node = layer.inboundNodes[0];
      for (const output of node?.outputTensors ?? []) elements += elementsPerImage(output.shape);
      if (learns(layer) && node?.inputTensors[0]) elements += elementsPerImage(node.inputTensors[0].shape);
    }
    largest = Math.max(largest, elements);
  }
  return largest;
}

interface Piece {
  input: SymbolicTensor;
  /** Each layer's call, in model order: the layer, its input tensors and its output tensor. */
  calls: { layer: Layer; inputs: SymbolicTensor[]; output: SymbolicTensor }[];
}

/** A piece's last call: its output is the piece's. */
const lastCall = (piece: Piece) => piece.calls[piece.calls.length - 1] as Piece['calls'][number];

/** The model split at every tensor that is the only value a forward pass holds after computing it. */
function cutPieces(student: LayersModel): Piece[] {
  const [input] = student.inputs;
  if (student.inputs.length !== 1 || !input) {
    throw new RangeError(`reconstructRounding: model '${student.name}' must have exactly one input`);
  }
  // Consumers of each tensor that have not run yet; the model's outputs are held to the end.
  const consumers = new Map<number, number>();
  const count = (t: SymbolicTensor) => consumers.set(t.id, (consumers.get(t.id) ?? 0) + 1);
  // The InputLayer's node lists the input as its own input: it is no consumer.
  const calls = student.layers.flatMap((layer) => {
    const node = layer.inboundNodes[0];
    return node && node.inboundLayers.length > 0 ? [{ layer, node }] : [];
  });
  for (const { node } of calls) for (const t of node.inputTensors) count(t);
  for (const t of student.outputs) count(t);
  const live = new Map<number, number>([[input.id, consumers.get(input.id) ?? 0]]);
  const pieces: Piece[] = [];
  let current: Piece = { input, calls: [] };
  for (const { layer, node } of calls) {
    for (const t of node.inputTensors) {
      const left = (live.get(t.id) ?? 0) - 1;
      if (left > 0) live.set(t.id, left);
      else live.delete(t.id);
    }
    const [output] = node.outputTensors;
    if (node.outputTensors.length !== 1 || !output) {
      throw new RangeError(`reconstructRounding: layer '${layer.name}' has ${node.outputTensors.length} outputs`);
    }
    current.calls.push({ layer, inputs: node.inputTensors, output });
    live.set(output.id, consumers.get(output.id) ?? 0);
    if (live.size === 1 && !(layer instanceof ActivationQuantizer)) {
      pieces.push(current);
      current = { input: output, calls: [] };
    }
  }
  return pieces;
}

/**
 * Pieces without a learnable layer joined to the one before when they only normalise
 * or activate its output (a BatchNormalization, a ReLU after an Add: the block's output
 * is theirs, as a layer's unit ends with them), to the next otherwise (a pooling before
 * the classifier: a pooled target says less about the layers before it). Pieces with
 * learnable layers are not merged: three layers of a plain stack learned together
 * (MNIST W3A3, seed 1) scored 78.2% against 91.5% layer by layer. `learns` says which
 * layers are learnable: the student's by default, a float model's layers with kernels
 * when planning.
 */
function mergePieces(pieces: Piece[], learns: (layer: Layer) => boolean = learnable): Piece[] {
  const merged: Piece[] = [];
  let pending: Piece | null = null;
  for (const piece of pieces) {
    const last = merged.at(-1);
    const learnsNothing = !piece.calls.some((c) => learns(c.layer));
    if (last && !pending && learnsNothing && piece.calls.every((c) => UNIT_LAYERS.has(c.layer.getClassName()))) {
      merged[merged.length - 1] = joinPieces(last, piece);
      continue;
    }
    const joined: Piece = pending ? joinPieces(pending, piece) : piece;
    pending = joined.calls.some((c) => learns(c.layer)) ? null : joined;
    if (!pending) merged.push(joined);
  }
  // Trailing layers without kernels (a last activation) change nothing reconstruction learns.
  return merged;
}

/** `first` then `second`, which starts where `first` ends. */
function joinPieces(first: Piece, second: Piece): Piece {
  return { input: first.input, calls: [...first.calls, ...second.calls] };
}

// Layers between an activation quantizer and the layer it feeds that keep the step
// size worth learning there: they move or pool the quantized values, nothing else.
const PASS_THROUGH = new Set([
  'MaxPooling2D',
  'AveragePooling2D',
  'GlobalAveragePooling2D',
  'GlobalMaxPooling2D',
  'ZeroPadding2D',
  'Flatten',
  'Reshape',
  'Dropout',
]);

/**
 * The frozen activation quantizer whose output reaches `layer` alone, with the
 * pass-through layers in between (in order); null when there is none, or when its
 * output also goes elsewhere (a residual connection), where its step serves more than
 * this layer.
 */
function inputQuantizerPath(layer: Layer): { quantizer: ActivationQuantizer; path: Layer[] } | null {
  const path: Layer[] = [];
  let current = layer;
  for (;;) {
    const producers = current.inboundNodes.length === 1 ? (current.inboundNodes[0]?.inboundLayers ?? []) : [];
    const producer = producers.length === 1 ? producers[0] : undefined;
    if (producer?.outboundNodes.length !== 1 || producer.inboundNodes.length !== 1) return null;
    if (producer instanceof ActivationQuantizer) return producer.frozen ? { quantizer: producer, path } : null;
    if (!PASS_THROUGH.has(producer.getClassName())) return null;
    path.unshift(producer);
    current = producer;
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
