import type { LayersModel } from '@tensorflow/tfjs-layers';

/** A reference to one output tensor of one call (node) of a layer, as in model.json. */
export type TensorRef = [layer: string, node: number, tensor: number, kwargs?: Record<string, unknown>];

/** One layer entry of a functional model.json topology (Keras format, snake_case). */
export interface LayerJson {
  class_name: string;
  name: string;
  config: Record<string, unknown> & { name: string };
  inbound_nodes: TensorRef[][];
}

/** A functional model's topology (class 'Model' in tfjs, 'Functional' in Keras 3). */
export interface FunctionalJson {
  class_name: string;
  config: {
    name: string;
    layers: LayerJson[];
    input_layers: TensorRef[];
    output_layers: TensorRef[];
  };
  [key: string]: unknown;
}

interface SequentialLayerJson {
  class_name: string;
  config: Record<string, unknown> & { name: string };
}

/**
 * The model's topology in functional form. A Sequential model is rewritten as the
 * equivalent chain behind an explicit InputLayer, so callers handle one format.
 */
export function functionalTopology(model: LayersModel): FunctionalJson {
  const json = model.toJSON(null, false) as unknown as {
    class_name: string;
    config: unknown;
  };
  if (json.class_name !== 'Sequential') return json as FunctionalJson;

  const config = json.config as { name: string; layers: SequentialLayerJson[] } | SequentialLayerJson[];
  const layerList = Array.isArray(config) ? config : config.layers;
  const input = model.inputs[0];
  const inputLayerName = model.inputLayers[0]?.name ?? `${model.name}_input`;
  if (model.inputs.length !== 1 || !input) {
    throw new Error(`Sequential model '${model.name}' must have exactly one input`);
  }
  const layers: LayerJson[] = [
    {
      class_name: 'InputLayer',
      name: inputLayerName,
      config: { batch_input_shape: input.shape, dtype: input.dtype, sparse: false, name: inputLayerName },
      inbound_nodes: [],
    },
  ];
  let previous = inputLayerName;
  for (const layer of layerList) {
    layers.push({
      class_name: layer.class_name,
      name: layer.config.name,
      config: layer.config,
      inbound_nodes: [[[previous, 0, 0, {}]]],
    });
    previous = layer.config.name;
  }
  return {
    class_name: 'Model',
    config: {
      name: model.name,
      layers,
      input_layers: [[inputLayerName, 0, 0]],
      output_layers: [[previous, 0, 0]],
    },
  };
}
