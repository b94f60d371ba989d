import { add, dispose, mul, reshape, rsqrt, sub, type Tensor, tidy, zeros } from '@tensorflow/tfjs-core';
import { type LayersModel, models } from '@tensorflow/tfjs-layers';
import { QuantizationError } from './errors.js';
import { type FunctionalJson, functionalTopology, type LayerJson, type TensorRef } from './topology_json.js';

// Layers a following BN folds into, and the shape that lines a per-output-channel
// vector up with their kernel.
const FOLD_TARGETS: Readonly<Record<string, (kernel: Tensor) => number[]>> = {
  Conv2D: (k) => [1, 1, 1, k.shape[3] as number],
  DepthwiseConv2D: (k) => [1, 1, k.shape[2] as number, k.shape[3] as number],
  Dense: (k) => [1, k.shape[1] as number],
};

/** One BN and the layer it folds into. */
interface Fold {
  bn: LayerJson;
  target: LayerJson;
}

/**
 * A float copy of `model` with every BatchNormalization folded into the Conv2D,
 * DepthwiseConv2D or Dense that feeds it: per output channel `c`, with
 * `f = gamma / sqrt(movingVariance + epsilon)`, the kernel becomes `kernel * f` and the
 * bias `(bias - movingMean) * f + beta` (the layer gains a bias if it had none). The
 * copy computes what `model` computes in inference mode (up to float rounding) and
 * has no BN layer; `model` is not changed.
 *
 * @throws QuantizationError naming every BN that cannot be folded: its input must be
 *   the only use of a Conv2D / DepthwiseConv2D / Dense output with a linear activation,
 *   both layers called once, BN over the last axis.
 */
export async function foldBatchNorm(model: LayersModel): Promise<LayersModel> {
  const topology = functionalTopology(model);
  const folds = findFolds(topology);
  const folded = await models.modelFromJSON({ modelTopology: foldedTopology(topology, folds) as never });
  try {
    const byTarget = new Map(folds.map((fold) => [fold.target.name, fold.bn.name]));
    for (const layer of model.layers) {
      if (layer.weights.length === 0 || layer.getClassName() === 'BatchNormalization') continue;
      const bnName = byTarget.get(layer.name);
      const weights = bnName
        ? foldedWeights(layer.getClassName(), layer.getWeights(), model.getLayer(bnName))
        : layer.getWeights();
      folded.getLayer(layer.name).setWeights(weights);
      if (bnName) dispose(weights);
    }
  } catch (error) {
    folded.dispose();
    throw error;
  }
  return folded;
}

function findFolds(topology: FunctionalJson): Fold[] {
  const layers = topology.config.layers;
  const byName = new Map(layers.map((l) => [l.name, l]));
  const uses = new Map<string, number>();
  const count = (ref: TensorRef) => uses.set(ref[0], (uses.get(ref[0]) ?? 0) + 1);
  for (const layer of layers) for (const node of layer.inbound_nodes) node.forEach(count);
  topology.config.output_layers.forEach(count);

  const problems: string[] = [];
  const folds: Fold[] = [];
  for (const bn of layers) {
    if (bn.class_name !== 'BatchNormalization') continue;
    const where = `BatchNormalization '${bn.name}'`;
    const source = bn.inbound_nodes.length === 1 ? bn.inbound_nodes[0] : undefined;
    const target = source?.length === 1 && source[0] ? byName.get(source[0][0]) : undefined;
    const axis = bn.config.axis;
    if (!source || !target) {
      problems.push(`${where} cannot be folded: it must be called exactly once, on one layer's output`);
    } else if (!(target.class_name in FOLD_TARGETS)) {
      problems.push(
        `${where} cannot be folded: its input comes from ${target.class_name} '${target.name}', not a Conv2D, DepthwiseConv2D or Dense`,
      );
    } else if ((target.config.activation ?? 'linear') !== 'linear') {
      problems.push(
        `${where} cannot be folded: '${target.name}' applies activation '${String(target.config.activation)}' before it`,
      );
    } else if (target.inbound_nodes.length !== 1 || uses.get(target.name) !== 1) {
      problems.push(`${where} cannot be folded: the output of '${target.name}' is used elsewhere too`);
    } else if (axis !== -1 && axis !== (target.class_name === 'Dense' ? 1 : 3)) {
      problems.push(`${where} cannot be folded: it normalises axis ${String(axis)}, not the channel axis`);
    } else {
      folds.push({ bn, target });
    }
  }
  if (problems.length > 0) throw new QuantizationError(problems);
  return folds;
}

function foldedTopology(topology: FunctionalJson, folds: Fold[]): FunctionalJson {
  const removed = new Map(folds.map((fold) => [fold.bn.name, fold.target.name]));
  const targets = new Set(folds.map((fold) => fold.target.name));
  const rename = (ref: TensorRef): TensorRef => {
    const target = removed.get(ref[0]);
    return target ? ([target, ref[1], ref[2], ...(ref.length > 3 ? [ref[3]] : [])] as TensorRef) : ref;
  };
  const layers = topology.config.layers
    .filter((layer) => !removed.has(layer.name))
    .map((layer) => ({
      ...layer,
      config: targets.has(layer.name) ? { ...layer.config, use_bias: true } : layer.config,
      inbound_nodes: layer.inbound_nodes.map((node) => node.map(rename)),
    }));
  return {
    ...topology,
    config: { ...topology.config, layers, output_layers: topology.config.output_layers.map(rename) },
  };
}

/** `[kernel * f, (bias - mean) * f + beta]` for a layer's weights and its BN. */
function foldedWeights(className: string, weights: Tensor[], bn: LayersModel['layers'][number]): Tensor[] {
  const [kernel, bias] = weights as [Tensor, Tensor?];
  const shapeOf = FOLD_TARGETS[className] as (k: Tensor) => number[];
  const config = bn.getConfig() as { epsilon?: number; center?: boolean; scale?: boolean };
  const params = bn.getWeights();
  return tidy(() => {
    const channels = params[params.length - 1]?.shape[0] as number;
    let next = 0;
    const gamma = config.scale === false ? undefined : params[next++];
    const beta = config.center === false ? undefined : params[next++];
    const mean = params[next++] as Tensor;
    const variance = params[next] as Tensor;
    const invStd = rsqrt(add(variance, config.epsilon ?? 1e-3));
    const factor = gamma ? mul(gamma, invStd) : invStd;
    const newKernel = mul(kernel, reshape(factor, shapeOf(kernel)));
    const shifted = mul(sub(bias ? reshape(bias, [channels]) : zeros([channels]), mean), factor);
    return [newKernel, beta ? add(shifted, beta) : shifted];
  });
}
