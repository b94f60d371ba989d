import {
  ActivationQuantizer,
  integerRange,
  QuantizedConv2D,
  QuantizedDense,
  QuantizedDepthwiseConv2D,
  QuantizedWeightLayer,
  quantize,
  quantParams,
} from '@qimera/quantizers';
import { cast, dispose, reshape, scalar, sub, type Tensor, tensor, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { IntegerInferenceError } from './errors.js';
import { exactLinear, type LinearKind } from './exact_linear.js';
import { roundHalfEven } from './fixed_point.js';
import { dequantizeForm, type Form, multiplierAt, type OutputGrid, perChannel, requantize } from './forms.js';
import type { IntTensor } from './int_tensor.js';
import { concatChannels, maxPoolInt, padSpatial, sumSpatial } from './spatial.js';

type Layer = LayersModel['layers'][number];
type Value = { float: Tensor } | { form: Form };
/** One layer's integer computation on its inputs' values. */
type Step = (inputs: Value[]) => Value;

/** Layer classes the integer reference runs. */
export const INTEGER_LAYERS: ReadonlySet<string> = new Set([
  'InputLayer',
  'ActivationQuantizer',
  'QuantizedConv2D',
  'QuantizedDepthwiseConv2D',
  'QuantizedDense',
  'ReLU',
  'Activation',
  'Add',
  'Concatenate',
  'ZeroPadding2D',
  'MaxPooling2D',
  'GlobalAveragePooling2D',
  'Flatten',
  'Dropout',
]);

const RELU_CAPS: Readonly<Record<string, number | null>> = { relu: Infinity, relu6: 6, linear: null };

/**
 * A quantized model run in integer arithmetic only: the reference that shows an
 * exported model is integer-deployable.
 *
 * - The network input is quantized by the model's input quantizer (build the model
 *   with `inputBits`, e.g. 8); from there on every value is an integer.
 * - Weights are the integer kernels (`q - zeroPoint`, per channel); activations are
 *   unsigned `q` with their zero point; products are summed in exact int32
 *   accumulators (see {@link exactLinear}); biases are int32 in the accumulator's
 *   scale (`round(bias / (inputScale * weightScale))`).
 * - At every activation quantizer the accumulators (of a convolution, or of an Add
 *   of several branches) are requantized with fixed-point multipliers (see
 *   {@link requantize}); ReLU / ReLU6 become clamps there.
 * - Global average pooling sums integers; its 1/(h*w) joins the next multiplier.
 * - Only the model output is turned back into real numbers (logits).
 *
 * The model must have BatchNorm folded (`foldBatchNorm`): a BN left in the model is
 * float arithmetic and is refused, like every layer outside {@link INTEGER_LAYERS}.
 */
export class IntegerModel {
  private constructor(
    private readonly order: { name: string; inputs: string[]; step: Step }[],
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  /**
   * Compiles a fake-quantized model (in memory or from `loadQuantizedModel`).
   * @throws IntegerInferenceError listing every layer that cannot run in integers.
   */
  static fromQuantized(model: LayersModel): IntegerModel {
    const problems: string[] = [];
    if (model.inputs.length !== 1 || model.outputs.length !== 1) {
      problems.push(`model '${model.name}' must have one input and one output`);
    }
    const order: { name: string; inputs: string[]; step: Step }[] = [];
    for (const layer of model.layers) {
      const where = `${layer.getClassName()} '${layer.name}'`;
      if (!INTEGER_LAYERS.has(layer.getClassName())) {
        const hint =
          layer.getClassName() === 'BatchNormalization'
            ? ': fold BatchNorm first (quantizeModel foldBatchNorm: true)'
            : '';
        problems.push(`${where} is not supported in integer arithmetic${hint}`);
        continue;
      }
      if (layer.inboundNodes.length > 1)
        problems.push(`${where} is called more than once (shared layers are not supported)`);
      const inputs = layer.inboundNodes[0]?.inboundLayers.map((l) => l.name) ?? [];
      try {
        order.push({ name: layer.name, inputs, step: compileStep(layer, where) });
      } catch (error) {
        problems.push((error as Error).message);
      }
    }
    const input = model.inputLayers[0];
    if (input) {
      for (const consumer of model.layers) {
        const fromInput = consumer.inboundNodes[0]?.inboundLayers.some((l) => l === input);
        if (fromInput && !(consumer instanceof ActivationQuantizer)) {
          problems.push(
            `the network input reaches ${consumer.getClassName()} '${consumer.name}' in float: quantize the input (quantizeModel inputBits: 8)`,
          );
        }
      }
    }
    if (problems.length > 0) throw new IntegerInferenceError(problems);
    return new IntegerModel(order, input?.name ?? '', model.outputLayers[0]?.name ?? '');
  }

  /** Logits (the dequantized output) for a float input batch, computed in integers. */
  predict(x: Tensor): Tensor {
    const values = new Map<string, Value>([[this.inputName, { float: x }]]);
    for (const { name, inputs, step } of this.order) {
      if (name === this.inputName) continue;
      values.set(
        name,
        step(
          inputs.map((input) => {
            const value = values.get(input);
            if (!value) throw new Error(`integer reference: '${input}' has no value yet (layers out of order)`);
            return value;
          }),
        ),
      );
    }
    const output = values.get(this.outputName);
    if (!output || !('form' in output)) throw new Error('integer reference: the output is not an integer value');
    const first = output.form.terms[0];
    return tensor(dequantizeForm(output.form), first?.values.shape ?? [0], 'float32');
  }
}

function compileStep(layer: Layer, where: string): Step {
  if (layer instanceof ActivationQuantizer) return quantizerStep(layer, where);
  if (layer instanceof QuantizedWeightLayer) return weightStep(layer, where);
  const config = layer.getConfig() as Record<string, unknown>;
  switch (layer.getClassName()) {
    case 'InputLayer':
    case 'Dropout':
      return ([x]) => x as Value;
    case 'ReLU': {
      const cap = (config.maxValue as number | null | undefined) ?? Infinity;
      return ([x]) => withRelu(formOf(x, where), cap);
    }
    case 'Activation': {
      const cap = RELU_CAPS[config.activation as string];
      if (cap === undefined)
        throw new Error(`${where}: activation '${String(config.activation)}' is not supported (relu, relu6, linear)`);
      return ([x]) => (cap === null ? (x as Value) : withRelu(formOf(x, where), cap));
    }
    case 'Add':
      return (inputs) => {
        const forms = inputs.map((x) => plainForm(x, where));
        return { form: { terms: forms.flatMap((f) => f.terms), reluCap: null } };
      };
    case 'Concatenate': {
      const axis = config.axis as number;
      if (axis !== -1 && axis !== 3)
        throw new Error(`${where}: only concatenation along the channel axis is supported`);
      return (inputs) => {
        const terms = inputs.map((x) => singleTerm(plainForm(x, where), where));
        const channelScales = terms.flatMap((t) => Array.from(perChannel(t)));
        // Parts on one grid (e.g. an activation and its max-pool) keep one scale.
        const shared = channelScales.every((m) => m === channelScales[0]);
        const multiplier = shared ? Float64Array.of(channelScales[0] as number) : Float64Array.from(channelScales);
        const bound = Math.max(...terms.map((t) => t.bound));
        return {
          form: { terms: [{ values: concatChannels(terms.map((t) => t.values)), multiplier, bound }], reluCap: null },
        };
      };
    }
    case 'ZeroPadding2D': {
      const padding = config.padding as [[number, number], [number, number]];
      return ([x]) => mapTerms(formOf(x, where), (t) => ({ ...t, values: padSpatial(t.values, padding) }));
    }
    case 'MaxPooling2D': {
      const { poolSize, strides, padding } = config as {
        poolSize: [number, number];
        strides: [number, number];
        padding: 'valid' | 'same';
      };
      return ([x]) => {
        // Max commutes with a positive per-channel scale (and with a ReLU clamp).
        const form = formOf(x, where);
        const term = singleTerm(form, where);
        return {
          form: {
            terms: [{ ...term, values: maxPoolInt(term.values, poolSize, strides, padding) }],
            reluCap: form.reluCap,
          },
        };
      };
    }
    case 'GlobalAveragePooling2D':
      return ([x]) =>
        mapTerms(plainForm(x, where), (t) => {
          const [, h = 1, w = 1] = t.values.shape;
          return {
            values: sumSpatial(t.values),
            multiplier: t.multiplier.map((m) => m / (h * w)),
            bound: t.bound * h * w,
          };
        });
    case 'Flatten':
      return ([x]) =>
        mapTerms(formOf(x, where), (t) => {
          const [n = 1] = t.values.shape;
          const size = t.values.data.length / n;
          // NHWC flattens channel-fastest, so per-channel multipliers repeat.
          const multiplier =
            t.multiplier.length === 1
              ? t.multiplier
              : Float64Array.from({ length: size }, (_, i) => multiplierAt(t, i % t.multiplier.length));
          return { ...t, values: { data: t.values.data, shape: [n, size] }, multiplier };
        });
    default:
      throw new Error(`${where} is not supported in integer arithmetic`);
  }
}

function quantizerStep(layer: ActivationQuantizer, where: string): Step {
  const { min, max, observedBatches } = layer.rangeState();
  if (observedBatches === 0) throw new Error(`${where} was never calibrated`);
  const { qmin, qmax } = integerRange(layer.spec);
  const range = { min: scalar(min), max: scalar(max) };
  const params = quantParams(range, layer.spec);
  const grid: OutputGrid = {
    scale: params.scale.dataSync()[0] as number,
    zeroPoint: params.zeroPoint.dataSync()[0] as number,
    qmin,
    qmax,
  };
  dispose([range.min, range.max, params.scale, params.zeroPoint]);
  const multiplier = Float64Array.of(grid.scale);
  const bound = Math.max(grid.zeroPoint - qmin, qmax - grid.zeroPoint);
  return ([x]) => {
    if (x && 'float' in x) {
      // The input boundary: the same rounding as the fake-quantized model's input quantizer.
      const q = tidy(() =>
        quantize(x.float, { scale: scalar(grid.scale), zeroPoint: scalar(grid.zeroPoint) }, layer.spec),
      );
      const data = Int32Array.from(q.dataSync() as Int32Array, (v) => v - grid.zeroPoint);
      const shape = q.shape;
      q.dispose();
      return { form: { terms: [{ values: { data, shape }, multiplier, bound }], reluCap: null } };
    }
    return { form: { terms: [{ values: requantize(formOf(x, where), grid), multiplier, bound }], reluCap: null } };
  };
}

function weightStep(layer: QuantizedWeightLayer, where: string): Step {
  const kind: LinearKind =
    layer instanceof QuantizedConv2D ? 'conv2d' : layer instanceof QuantizedDepthwiseConv2D ? 'depthwise' : 'dense';
  if (
    !(layer instanceof QuantizedConv2D || layer instanceof QuantizedDepthwiseConv2D || layer instanceof QuantizedDense)
  ) {
    throw new Error(`${where} is not supported in integer arithmetic`);
  }
  const cap = RELU_CAPS[layer.activation];
  if (cap === undefined)
    throw new Error(`${where}: fused activation '${layer.activation}' is not supported (relu, relu6, linear)`);
  const geometry = kind === 'dense' ? undefined : (layer as QuantizedConv2D | QuantizedDepthwiseConv2D).geometry;
  const params = layer.kernelQuantParams();
  const [kernel, scales] = tidy(() => {
    const q = quantize(layer.kernelWeight.read(), params, layer.weightSpec);
    return [sub(cast(q, 'float32'), params.zeroPoint), reshape(params.scale, [-1])];
  });
  dispose([params.scale, params.zeroPoint]);
  const weights: IntTensor = { data: Int32Array.from(kernel.dataSync()), shape: kernel.shape };
  const weightScale = Float64Array.from(scales.dataSync());
  dispose([kernel, scales]);
  const biasWeight = layer.weights.find((w) => w.originalName === `${layer.name}/bias`);
  const bias = biasWeight ? Float64Array.from(biasWeight.read().dataSync()) : null;
  const absKernelSum = largestAbsColumnSum(weights);
  return ([x]) => {
    const term = singleTerm(plainForm(x, where), where);
    if (term.multiplier.length !== 1) {
      throw new Error(`${where}: its input is not quantized: no activation quantizer produced it`);
    }
    const inputScale = term.multiplier[0] as number;
    const acc = exactLinear(kind, term.values, weights, geometry, term.bound);
    const channels = acc.shape[acc.shape.length - 1] as number;
    const unit = Float64Array.from(
      { length: channels },
      (_, c) => inputScale * (weightScale[weightScale.length === 1 ? 0 : c] as number),
    );
    // The bias joins the int32 accumulator with `fraction` extra bits: as many as the
    // accumulator's proven bound leaves (at most 16), so the bias is not rounded to
    // whole accumulator units, which at 4 bits are a sizeable part of an output step.
    const productBound = term.bound * absKernelSum;
    const biasInt = bias ? Float64Array.from(bias, (b, c) => b / (unit[c] as number)) : null;
    const biasBound = biasInt ? Math.max(...Array.from(biasInt, Math.abs)) : 0;
    const fraction = Math.max(0, Math.min(16, Math.floor(Math.log2(2 ** 31 / (productBound + biasBound + 1)))));
    const place = 2 ** fraction;
    if (biasInt || fraction > 0) {
      const addend = biasInt ? Float64Array.from(biasInt, (b) => roundHalfEven(b * place)) : new Float64Array(channels);
      const data = acc.data;
      for (let start = 0; start < data.length; start += channels) {
        for (let c = 0; c < channels; c++)
          data[start + c] = (data[start + c] as number) * place + (addend[c] as number);
      }
    }
    const multiplier = unit.map((u) => u / place);
    return {
      form: { terms: [{ values: acc, multiplier, bound: (productBound + biasBound + 1) * place }], reluCap: cap },
    };
  };
}

/** The largest sum of |w| feeding one output: bounds an accumulator with the input's bound. */
function largestAbsColumnSum(kernel: IntTensor): number {
  const outputs = kernel.shape[kernel.shape.length - 1] as number;
  const sums = new Float64Array(outputs);
  for (let i = 0; i < kernel.data.length; i++)
    sums[i % outputs] = (sums[i % outputs] as number) + Math.abs(kernel.data[i] as number);
  return Math.max(...sums);
}

function formOf(x: Value | undefined, where: string): Form {
  if (!x || !('form' in x)) throw new Error(`${where}: its input is float, not quantized`);
  return x.form;
}

/** A form with no pending ReLU: what linear layers and sums need. */
function plainForm(x: Value | undefined, where: string): Form {
  const form = formOf(x, where);
  if (form.reluCap !== null) {
    throw new Error(`${where}: its input is a ReLU output that no activation quantizer requantized`);
  }
  return form;
}

function singleTerm(form: Form, where: string) {
  const [term] = form.terms;
  if (!term || form.terms.length > 1)
    throw new Error(`${where}: its input is an unrequantized sum of ${form.terms.length} branches`);
  return term;
}

function withRelu(form: Form, cap: number): Value {
  return { form: { ...form, reluCap: form.reluCap === null ? cap : Math.min(form.reluCap, cap) } };
}

function mapTerms(form: Form, map: (t: Form['terms'][number]) => Form['terms'][number]): Value {
  return { form: { terms: form.terms.map(map), reluCap: form.reluCap } };
}
