import { type LayersModel, models } from '@tensorflow/tfjs-layers';
import { QuantizedWeightLayer } from '../layers/quantized_weight_layer.js';
import { OBSERVER_KINDS } from '../math/observers.js';
import { validateBits, validateScheme } from '../math/spec.js';
import { copyWeightsByName } from './copy_weights.js';
import { QuantizationError } from './errors.js';
import { foldBatchNorm } from './fold_batch_norm.js';
import { endsInRelu, FLOAT_LAYERS, QUANTIZED_CLASSES, QUANTIZED_TWINS } from './layer_kinds.js';
import { networkEnds } from './network_ends.js';
import { type LayerQuantOverride, type QuantizeModelConfig, WEIGHT_RANGE_METHODS } from './quantize_config.js';
import { type FunctionalJson, functionalTopology, type LayerJson, type TensorRef } from './topology_json.js';
import '../layers/register.js';

/**
 * A fake-quantized copy of `model`; `model` itself is not changed.
 *
 * Every Conv2D, DepthwiseConv2D and Dense (first and last included) becomes its
 * quantized twin with the same weights; an {@link ActivationQuantizer} is inserted after
 * every ReLU / ReLU6, whether a standalone ReLU or Activation layer or a fused
 * `activation`. BatchNormalization and weightless layers are kept in float, unless
 * `foldBatchNorm` folds BN into the layer before it. The network input is quantized
 * only when `inputBits` is given. Sequential and functional models
 * (branches, Add, Concatenate, shared layers) are supported; a Sequential model comes
 * back as the equivalent functional model. Activation quantizers start unfrozen:
 * calibrate them (see {@link calibrateActivationRanges}) before inference.
 *
 * Regularizers and constraints of replaced layers are not carried over.
 *
 * @throws QuantizationError listing every unsupported layer (name and class), bad
 *   option and unknown override at once; nothing is built in that case.
 */
export async function quantizeModel(model: LayersModel, config: QuantizeModelConfig): Promise<LayersModel> {
  // Checked on the original topology first, so a bad config fails before any folding;
  // without folding that rewrite is the one built.
  const unfolded = rewriteTopology(functionalTopology(model), config);
  const source = config.foldBatchNorm ? await foldBatchNorm(model) : model;
  try {
    const rewritten = source === model ? unfolded : rewriteTopology(functionalTopology(source), config);
    const quantized = copyWeightsByName(source, await models.modelFromJSON({ modelTopology: rewritten as never }));
    if (config.weightRange === 'mse') {
      for (const layer of quantized.layers) if (layer instanceof QuantizedWeightLayer) layer.clipKernelByMse();
    }
    return quantized;
  } finally {
    if (source !== model) source.dispose();
  }
}

/**
 * The rewrite behind {@link quantizeModel}, on model.json topologies: exported for
 * tools that transform topologies without building models.
 */
export function rewriteTopology(topology: FunctionalJson, config: QuantizeModelConfig): FunctionalJson {
  const problems: string[] = [];
  const settings = resolveSettings(config, problems);
  const layers = topology.config.layers;
  const names = new Set(layers.map((l) => l.name));
  checkOverrides(config.layers ?? {}, layers, problems);
  const overrides = withEnds(topology, config, problems);
  for (const layer of layers) {
    const where = `layer '${layer.name}' (${layer.class_name})`;
    if (QUANTIZED_CLASSES.has(layer.class_name)) problems.push(`${where} is already quantized`);
    else if (layer.class_name in QUANTIZED_TWINS) {
      if (layer.config.data_format === 'channels_first') {
        problems.push(`${where}: data_format 'channels_first' is not supported (NHWC only)`);
      }
    } else if (!FLOAT_LAYERS.has(layer.class_name)) {
      problems.push(`${where} is not supported`);
    }
  }
  if (problems.length > 0) throw new QuantizationError(problems);

  const redirect = new Map<string, string>();
  const out: LayerJson[] = [];
  for (const layer of layers) {
    const override: LayerQuantOverride = overrides[layer.name] ?? {};
    const rewired = {
      ...layer,
      inbound_nodes: layer.inbound_nodes.map((node) => node.map((ref) => redirectRef(ref, redirect))),
    };
    if (override.skip) {
      out.push(rewired);
      continue;
    }
    const twin = QUANTIZED_TWINS[layer.class_name];
    out.push(
      twin
        ? {
            ...rewired,
            class_name: twin,
            config: {
              ...layer.config,
              weight_bits: override.weightBits ?? settings.weightBits,
              weight_scheme: settings.weightScheme,
              per_channel: settings.perChannel,
            },
          }
        : rewired,
    );
    const bits =
      layer.class_name === 'InputLayer'
        ? settings.inputBits
        : endsInRelu(layer.class_name, layer.config)
          ? (override.activationBits ?? settings.activationBits)
          : undefined;
    if (bits === undefined) continue;
    const quantName = uniqueName(`${layer.name}_quant`, names);
    redirect.set(layer.name, quantName);
    // An InputLayer has no inbound node but one output node.
    const nodes = Math.max(layer.inbound_nodes.length, 1);
    out.push({
      class_name: 'ActivationQuantizer',
      name: quantName,
      config: {
        name: quantName,
        trainable: false,
        bits,
        scheme: settings.activationScheme,
        observer: settings.observer,
        ema_decay: settings.emaDecay,
        frozen: false,
      },
      inbound_nodes: Array.from({ length: nodes }, (_, node) => [[layer.name, node, 0, {}]]),
    });
  }
  return {
    ...topology,
    config: {
      ...topology.config,
      layers: out,
      output_layers: topology.config.output_layers.map((ref) => redirectRef(ref, redirect)),
    },
  };
}

function resolveSettings(config: QuantizeModelConfig, problems: string[]) {
  const attempt = <T>(check: () => T, fallback: T): T => collect(problems, check, fallback);
  const weightBits = attempt(() => validateBits(config.weightBits, 'config.weightBits'), 8);
  const activationBits = attempt(() => validateBits(config.activationBits, 'config.activationBits'), 8);
  const inputBits =
    config.inputBits === undefined
      ? undefined
      : attempt<number | undefined>(() => validateBits(config.inputBits, 'config.inputBits'), undefined);
  const weightScheme = attempt(
    () => validateScheme(config.weightScheme ?? 'asymmetric', 'config.weightScheme'),
    'asymmetric',
  );
  const activationScheme = attempt(
    () => validateScheme(config.activationScheme ?? 'asymmetric', 'config.activationScheme'),
    'asymmetric',
  );
  const observer = config.activationObserver ?? 'ema';
  if (!OBSERVER_KINDS.includes(observer)) {
    const allowed = OBSERVER_KINDS.map((kind) => `'${kind}'`).join(', ');
    problems.push(`config.activationObserver must be one of ${allowed}, got ${JSON.stringify(observer)}`);
  }
  if (!WEIGHT_RANGE_METHODS.includes(config.weightRange ?? 'minmax')) {
    problems.push(`config.weightRange must be 'minmax' or 'mse', got ${JSON.stringify(config.weightRange)}`);
  }
  const emaDecay = config.emaDecay ?? 0.9;
  if (!(emaDecay >= 0 && emaDecay < 1))
    problems.push(`config.emaDecay must be in [0, 1), got ${String(config.emaDecay)}`);
  return {
    weightBits,
    activationBits,
    inputBits,
    weightScheme,
    activationScheme,
    perChannel: config.perChannelWeights ?? true,
    observer,
    emaDecay,
  };
}

/** `config.layers` with the network's ends at `config.firstLastBits` where no entry says otherwise. */
function withEnds(
  topology: FunctionalJson,
  config: QuantizeModelConfig,
  problems: string[],
): Record<string, LayerQuantOverride> {
  const given = config.layers ?? {};
  if (config.firstLastBits === undefined) return given;
  const bits = collect(problems, () => validateBits(config.firstLastBits, 'config.firstLastBits'), 8);
  const ends = networkEnds(topology);
  const overrides: Record<string, LayerQuantOverride> = {};
  const widen = (names: Set<string>, key: 'weightBits' | 'activationBits') => {
    for (const name of names) overrides[name] = { ...overrides[name], [key]: bits };
  };
  widen(ends.firstKernels, 'weightBits');
  widen(ends.lastKernels, 'weightBits');
  widen(ends.firstActivations, 'activationBits');
  widen(ends.lastActivations, 'activationBits');
  for (const [name, override] of Object.entries(given)) overrides[name] = { ...overrides[name], ...override };
  return overrides;
}

function checkOverrides(overrides: Record<string, LayerQuantOverride>, layers: LayerJson[], problems: string[]): void {
  const byName = new Map(layers.map((l) => [l.name, l]));
  for (const [name, override] of Object.entries(overrides)) {
    const layer = byName.get(name);
    const where = `config.layers['${name}']`;
    if (!layer) {
      problems.push(`${where}: the model has no layer named '${name}'`);
      continue;
    }
    const hasWeights = layer.class_name in QUANTIZED_TWINS;
    const hasRelu = endsInRelu(layer.class_name, layer.config);
    if (!hasWeights && !hasRelu) {
      problems.push(
        `${where}: ${layer.class_name} is not quantized; overrides apply to Conv2D, DepthwiseConv2D, Dense and ReLU layers`,
      );
    }
    if (override.weightBits !== undefined) {
      if (!hasWeights) problems.push(`${where}: weightBits given, but ${layer.class_name} has no kernel`);
      else collect(problems, () => validateBits(override.weightBits, `${where}.weightBits`), 0);
    }
    if (override.activationBits !== undefined) {
      if (!hasRelu) problems.push(`${where}: activationBits given, but '${name}' does not end in a ReLU`);
      else collect(problems, () => validateBits(override.activationBits, `${where}.activationBits`), 0);
    }
  }
}

/** Runs a validation; on failure records its message and returns the fallback. */
function collect<T>(problems: string[], check: () => T, fallback: T): T {
  try {
    return check();
  } catch (error) {
    problems.push((error as Error).message);
    return fallback;
  }
}

function redirectRef(ref: TensorRef, redirect: Map<string, string>): TensorRef {
  const target = redirect.get(ref[0]);
  if (!target) return ref;
  const moved: TensorRef = [target, ref[1], 0];
  if (ref.length > 3) moved.push(ref[3]);
  return moved;
}

function uniqueName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 1; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}
