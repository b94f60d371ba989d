/**
 * Structural checks of a Keras / tfjs model topology, for what tfjs-layers does not
 * check itself and would loop forever on instead of failing: a functional model whose
 * layers lack names, whose connections name missing layers or nodes or form a cycle;
 * an initializer whose parameters are not numbers (a NaN standard deviation never
 * satisfies the truncated normal's resampling).
 */

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The first structural problem of `topology`, described with the layer it is in, or null. */
export function topologyProblem(topology: unknown, where = 'modelTopology'): string | null {
  if (!isObject(topology)) return `${where} must be an object`;
  // model.json wraps the model as { class_name, config }; Keras files as { model_config: ... }.
  const model = isObject(topology.model_config) ? topology.model_config : topology;
  const className = model.class_name;
  if (typeof className !== 'string') return `${where}.class_name must be a string`;
  if (className === 'Model' || className === 'Functional') return functionalProblem(model.config, `${where}.config`);
  if (className !== 'Sequential') return null;
  const layers = Array.isArray(model.config) ? model.config : isObject(model.config) ? model.config.layers : null;
  if (!Array.isArray(layers)) return `${where}.config must hold the layers array`;
  for (const [i, layer] of layers.entries()) {
    const problem = isObject(layer)
      ? initializerProblem(layer, `${where} layer ${i}`)
      : `${where} layer ${i} must be an object`;
    if (problem) return problem;
  }
  return null;
}

/** Initializers (`*_initializer` of a layer's config) with parameters that are not numbers. */
function initializerProblem(layer: Json, where: string): string | null {
  if (!isObject(layer.config)) return `${where} has no config object`;
  for (const [key, value] of Object.entries(layer.config)) {
    if (!key.endsWith('_initializer') || value === null || typeof value === 'string') continue;
    if (!isObject(value) || typeof value.class_name !== 'string' || !isObject(value.config)) {
      return `${where}: ${key} must be null, a name or { class_name, config }`;
    }
    for (const [name, parameter] of Object.entries(value.config)) {
      const plain = parameter === null || typeof parameter === 'string' || Number.isFinite(parameter);
      if (!plain) return `${where}: ${key}.config.${name} must be a finite number, got ${JSON.stringify(parameter)}`;
    }
  }
  return null;
}

function functionalProblem(config: unknown, where: string): string | null {
  if (!isObject(config) || !Array.isArray(config.layers)) return `${where}.layers must be an array`;
  const nodeCounts = new Map<string, number>();
  for (const [i, layer] of config.layers.entries()) {
    const at = `${where}.layers[${i}]`;
    if (!isObject(layer)) return `${at} must be an object`;
    if (typeof layer.name !== 'string' || layer.name === '') return `${at} has no name`;
    if (nodeCounts.has(layer.name)) return `${at}: two layers are named '${layer.name}'`;
    if (typeof layer.class_name !== 'string') return `layer '${layer.name}' has no class_name`;
    const initializer = initializerProblem(layer, `layer '${layer.name}'`);
    if (initializer) return initializer;
    if (!Array.isArray(layer.inbound_nodes)) return `layer '${layer.name}' has no inbound_nodes array`;
    // An input layer makes its one node itself.
    nodeCounts.set(layer.name, layer.class_name === 'InputLayer' ? 1 : layer.inbound_nodes.length);
  }
  const inputsOf = new Map<string, Set<string>>();
  for (const layer of config.layers as Json[]) {
    const name = layer.name as string;
    const inputs = new Set<string>();
    for (const node of layer.inbound_nodes as unknown[]) {
      if (!Array.isArray(node) || node.length === 0) {
        return `layer '${name}': each inbound node must be a non-empty array of connections`;
      }
      for (const connection of node) {
        const problem = connectionProblem(connection, nodeCounts, `layer '${name}'`);
        if (problem) return problem;
        inputs.add((connection as unknown[])[0] as string);
      }
    }
    inputsOf.set(name, inputs);
    if (layer.class_name === 'Model' || layer.class_name === 'Functional') {
      const nested = functionalProblem(layer.config, `layer '${name}'.config`);
      if (nested) return nested;
    }
  }
  for (const key of ['input_layers', 'output_layers'] as const) {
    const refs = config[key];
    if (!Array.isArray(refs)) return `${where}.${key} must be an array`;
    for (const ref of refs) {
      const problem = connectionProblem(ref, nodeCounts, `${where}.${key}`);
      if (problem) return problem;
    }
  }
  const cycle = layerInCycle(inputsOf);
  return cycle ? `layer '${cycle}' depends on its own output (the connections form a cycle)` : null;
}

/** `[layerName, nodeIndex, tensorIndex, kwargs?]` naming an existing layer and node. */
function connectionProblem(connection: unknown, nodeCounts: Map<string, number>, where: string): string | null {
  if (!Array.isArray(connection) || connection.length < 3) {
    return `${where}: a connection must be [layer name, node index, tensor index], got ${JSON.stringify(connection)}`;
  }
  const [name, node, tensor] = connection;
  const nodes = typeof name === 'string' ? nodeCounts.get(name) : undefined;
  if (nodes === undefined) return `${where} connects to ${JSON.stringify(name)}, which is not a layer of the model`;
  if (!(Number.isInteger(node) && node >= 0 && node < nodes)) {
    return `${where} connects to node ${JSON.stringify(node)} of '${name}', which has ${nodes}`;
  }
  if (!(Number.isInteger(tensor) && tensor >= 0)) {
    return `${where} connects to tensor ${JSON.stringify(tensor)} of '${name}'`;
  }
  return null;
}

/** A layer on a cycle of the input graph, or null (Kahn's algorithm). */
function layerInCycle(inputsOf: Map<string, Set<string>>): string | null {
  const pending = new Map([...inputsOf].map(([name, inputs]) => [name, new Set(inputs)]));
  let progressed = true;
  while (progressed) {
    progressed = false;
    for (const [name, inputs] of pending) {
      for (const input of inputs) if (!pending.has(input)) inputs.delete(input);
      if (inputs.size === 0) {
        pending.delete(name);
        progressed = true;
      }
    }
  }
  const [stuck] = pending.keys();
  return stuck ?? null;
}
