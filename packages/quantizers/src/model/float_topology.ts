import { QUANTIZED_TWINS } from './layer_kinds.js';
import type { FunctionalJson, TensorRef } from './topology_json.js';

const FLOAT_CLASS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(QUANTIZED_TWINS).map(([float, twin]) => [twin, float]),
);
// Config keys the quantized twins add to their float layer's config.
const QUANT_KEYS = ['weight_bits', 'weight_scheme', 'per_channel', 'kernel_on_grid'];

/**
 * The inverse of {@link rewriteTopology}: quantized Conv2D / DepthwiseConv2D / Dense
 * become the stock tfjs-layers classes, and every ActivationQuantizer is removed (its
 * consumers read its input instead). The result builds with stock tfjs-layers; with
 * the on-grid kernels it computes the quantized model with float activations.
 */
export function floatTopology(quantized: FunctionalJson): FunctionalJson {
  const bypass = new Map<string, TensorRef>();
  for (const layer of quantized.config.layers) {
    const input = layer.inbound_nodes[0]?.[0];
    if (layer.class_name === 'ActivationQuantizer' && input) bypass.set(layer.name, input);
  }
  const rewire = (ref: TensorRef): TensorRef => {
    let target = ref;
    for (let next = bypass.get(target[0]); next; next = bypass.get(target[0])) target = next;
    return target === ref ? ref : ([target[0], target[1], target[2], ...(ref.length > 3 ? [ref[3]] : [])] as TensorRef);
  };
  const layers = quantized.config.layers
    .filter((layer) => !bypass.has(layer.name))
    .map((layer) => {
      const floatClass = FLOAT_CLASS[layer.class_name];
      const config = floatClass
        ? Object.fromEntries(Object.entries(layer.config).filter(([key]) => !QUANT_KEYS.includes(key)))
        : layer.config;
      return {
        ...layer,
        class_name: floatClass ?? layer.class_name,
        config: config as typeof layer.config,
        inbound_nodes: layer.inbound_nodes.map((node) => node.map(rewire)),
      };
    });
  return {
    ...quantized,
    config: { ...quantized.config, layers, output_layers: quantized.config.output_layers.map(rewire) },
  };
}
