import { endsInRelu, QUANTIZED_TWINS } from './layer_kinds.js';
import type { FunctionalJson, LayerJson } from './topology_json.js';

/** The layers at either end of a network, by name (see {@link networkEnds}). */
export interface NetworkEnds {
  /** Kernel layers that read the network input, through weightless layers only. */
  firstKernels: Set<string>;
  /**
   * Where a first kernel layer's output is first quantized: the layer itself when it
   * ends in a ReLU, else the weightless ReLU-ending layers its output reaches before
   * any kernel layer.
   */
  firstActivations: Set<string>;
  /** Kernel layers whose output reaches a network output through weightless layers only. */
  lastKernels: Set<string>;
  /** The ReLU-ending layers (a kernel layer with a fused ReLU included) nearest before a last kernel layer. */
  lastActivations: Set<string>;
}

/**
 * The first and last layers of a functional topology: where a network is most
 * sensitive to quantization (the first layer's output carries all of the image, the
 * last layer's input all of the decision), so low-bit schemes often keep them wider.
 */
export function networkEnds(topology: FunctionalJson): NetworkEnds {
  const byName = new Map(topology.config.layers.map((layer) => [layer.name, layer]));
  const consumers = new Map<string, LayerJson[]>();
  for (const layer of topology.config.layers) {
    for (const from of producersOf(layer, byName)) {
      consumers.set(from.name, [...(consumers.get(from.name) ?? []), layer]);
    }
  }
  const hasKernel = (layer: LayerJson) => layer.class_name in QUANTIZED_TWINS;
  const relu = (layer: LayerJson) => endsInRelu(layer.class_name, layer.config);
  const after = (layer: LayerJson) => consumers.get(layer.name) ?? [];
  const before = (layer: LayerJson) => producersOf(layer, byName);
  const named = (refs: FunctionalJson['config']['input_layers']) =>
    refs.map((ref) => byName.get(ref[0])).filter((layer): layer is LayerJson => layer !== undefined);

  const firstKernels = reach(named(topology.config.input_layers).flatMap(after), after, hasKernel, () => false);
  const lastKernels = reach(named(topology.config.output_layers), before, hasKernel, () => false);
  const firstActivations = new Set<string>();
  for (const name of firstKernels) {
    const layer = byName.get(name) as LayerJson;
    if (relu(layer)) firstActivations.add(name);
    else {
      const weightlessRelu = (next: LayerJson) => relu(next) && !hasKernel(next);
      for (const found of reach(after(layer), after, weightlessRelu, hasKernel)) firstActivations.add(found);
    }
  }
  const lastActivations = new Set<string>();
  for (const name of lastKernels) {
    for (const found of reach(before(byName.get(name) as LayerJson), before, relu, hasKernel)) {
      lastActivations.add(found);
    }
  }
  return { firstKernels, firstActivations, lastKernels, lastActivations };
}

function producersOf(layer: LayerJson, byName: Map<string, LayerJson>): LayerJson[] {
  return layer.inbound_nodes
    .flat()
    .map((ref) => byName.get(ref[0]))
    .filter((from): from is LayerJson => from !== undefined);
}

/**
 * Names of the layers matching `found` reached from `start` by following `next`
 * through layers that match neither `found` nor `barrier`; the walk stops at both.
 */
function reach(
  start: LayerJson[],
  next: (layer: LayerJson) => LayerJson[],
  found: (layer: LayerJson) => boolean,
  barrier: (layer: LayerJson) => boolean,
): Set<string> {
  const hits = new Set<string>();
  const seen = new Set<string>();
  const queue = [...start];
  for (let layer = queue.shift(); layer; layer = queue.shift()) {
    if (seen.has(layer.name)) continue;
    seen.add(layer.name);
    if (found(layer)) hits.add(layer.name);
    else if (!barrier(layer)) queue.push(...next(layer));
  }
  return hits;
}
