import { copyWeightsByName } from '@qimera/quantizers';
import {
  add,
  conv2d,
  matMul,
  reshape,
  serialization,
  type Tensor,
  type Tensor2D,
  type Tensor4D,
  tidy,
} from '@tensorflow/tfjs-core';
import { LayersModel, type layers, Sequential, model as tfModel } from '@tensorflow/tfjs-layers';

// tfjs-layers does not export its Conv2D and Dense classes; the serialization registry
// holds them with their fromConfig (it is how model.json files name them).
type LayerConstructor = new (args: serialization.ConfigDict) => layers.Layer;
type Registered = [LayerConstructor, (cls: unknown, config: serialization.ConfigDict) => layers.Layer];
function registered(className: string): Registered {
  const entry = serialization.SerializationMap.getMap().classNameMap[className];
  if (!entry) throw new Error(`unfusedCopy: tfjs-layers has no registered '${className}' layer`);
  return entry as unknown as Registered;
}
const [Conv2D, conv2dFromConfig] = registered('Conv2D');
const [Dense, denseFromConfig] = registered('Dense');

/** The fields of tfjs-layers' Conv2D / Dense instances the unfused forwards read. */
interface WeightLayerFields {
  kernel: { read(): Tensor };
  bias: { read(): Tensor } | null;
  activation: { apply(x: Tensor): Tensor };
}
interface Conv2DFields extends WeightLayerFields {
  strides: [number, number];
  padding: string;
  dataFormat: string;
  dilationRate: [number, number];
}

const single = (inputs: Tensor | Tensor[]): Tensor => (Array.isArray(inputs) ? (inputs[0] as Tensor) : inputs);

/** Conv2D with its bias and activation as separate ops, each with its own gradient. */
class UnfusedConv2D extends Conv2D {
  override call(inputs: Tensor | Tensor[], kwargs: serialization.ConfigDict): Tensor {
    const self = this as unknown as Conv2DFields;
    if (self.dataFormat !== 'channelsLast') return super.call(inputs, kwargs) as Tensor;
    return tidy(() => {
      const pad = self.padding === 'same' ? 'same' : 'valid';
      let y: Tensor = conv2d(
        single(inputs) as Tensor4D,
        self.kernel.read() as Tensor4D,
        self.strides,
        pad,
        'NHWC',
        self.dilationRate,
      );
      if (self.bias) y = add(y, self.bias.read());
      return self.activation.apply(y);
    });
  }
}

/** Dense with its bias and activation as separate ops (inputs of rank > 2 along the last axis). */
class UnfusedDense extends Dense {
  override call(inputs: Tensor | Tensor[]): Tensor {
    const self = this as unknown as WeightLayerFields;
    return tidy(() => {
      const x = single(inputs);
      const kernel = self.kernel.read() as Tensor2D;
      const flat = reshape(x, [-1, x.shape[x.rank - 1] as number]) as Tensor2D;
      let y: Tensor = reshape(matMul(flat, kernel), [...x.shape.slice(0, -1), kernel.shape[1]]);
      if (self.bias) y = add(y, self.bias.read());
      return self.activation.apply(y);
    });
  }
}

// Deserialisation looks these names up here before the registry.
const UNFUSED_LAYERS = {
  Conv2D: [UnfusedConv2D, conv2dFromConfig],
  Dense: [UnfusedDense, denseFromConfig],
} as unknown as serialization.ConfigDict;

/**
 * A copy of `model` (same topology and layer names, copied weights; a Sequential model
 * comes back as the equivalent functional one) whose Conv2D and
 * Dense layers run unfused ops, for differentiating a frozen model with respect to its
 * input. Why: tfjs-layers runs both through `tf.fused.conv2d` / `tf.fused.matMul`, whose
 * gradient computes the weight gradient together with the input gradient, wanted or
 * not; through a frozen teacher that is a discarded filter gradient per convolution,
 * about one teacher forward of work per generator step. Unfused ops compute only the
 * gradients asked for. Outputs equal the original's; dispose the copy when done.
 */
export function unfusedCopy(model: LayersModel): LayersModel {
  // A Sequential model is copied as the equivalent functional model: Sequential.fromConfig
  // ignores custom objects. Layers reach the substitutes through config.customObjects.
  const functional = model instanceof Sequential ? tfModel({ inputs: model.inputs, outputs: model.outputs }) : model;
  const config = { ...functional.getConfig(), customObjects: UNFUSED_LAYERS };
  const copy = LayersModel.fromConfig(LayersModel, config, UNFUSED_LAYERS) as LayersModel;
  return copyWeightsByName(model, copy);
}
