import { copyWeightsByName, functionalTopology } from '@qimera/quantizers';
import { type LayersModel, layers, model, models, type SymbolicTensor } from '@tensorflow/tfjs-layers';

/** A classifier seen through its logits: see {@link logitsView}. */
export interface LogitsView {
  /** The classifier without its final softmax; the classifier itself when it has none. */
  logits: LayersModel;
  /**
   * The name {@link withSoftmax} gives the softmax back under: the classifier's own
   * softmax layer's, or `<dense>_softmax` when the last Dense layer applied it; null
   * when the classifier outputs logits.
   */
  softmaxName: string | null;
  /** Frees what the view made (the copy, when the last Dense layer applied the softmax); never the classifier's weights. */
  dispose(): void;
}

/**
 * The classifier with its final softmax removed: Keras models
 * usually end in one, and the method's losses (synthesis cross-entropy, distillation at
 * a temperature, KL fidelity) need logits: read as logits, probabilities differ by at
 * most 1, so they carry little class signal. A softmax in its own layer (`Activation`
 * or `Softmax`) is cut off (the layers are shared); one the last Dense layer applies
 * is taken out of a copy of the classifier.
 */
export async function logitsView(classifier: LayersModel): Promise<LogitsView> {
  const output = classifier.outputs[0] as SymbolicTensor;
  const last = output.sourceLayer;
  const config = last.getConfig() as { activation?: string; axis?: number | number[] };
  const className = last.getClassName();
  const ownLayer =
    (className === 'Activation' && config.activation === 'softmax') ||
    (className === 'Softmax' && (config.axis === undefined || config.axis === -1));
  if (ownLayer) {
    return {
      logits: model({ name: classifier.name, inputs: classifier.inputs, outputs: last.input as SymbolicTensor }),
      softmaxName: last.name,
      dispose: () => {},
    };
  }
  if (className !== 'Dense' || config.activation !== 'softmax') {
    return { logits: classifier, softmaxName: null, dispose: () => {} };
  }
  // A copy with the softmax taken out of the layer's config: a linear twin applied to
  // the classifier's own graph would add a node to the user's model.
  const topology = functionalTopology(classifier);
  for (const layer of topology.config.layers) {
    if (layer.name === last.name) layer.config = { ...layer.config, activation: 'linear' };
  }
  const logits = copyWeightsByName(classifier, await models.modelFromJSON({ modelTopology: topology as never }));
  return { logits, softmaxName: `${last.name}_softmax`, dispose: () => logits.dispose() };
}

/**
 * `net` with a softmax applied to its output, in a layer of its own named `name`: the
 * output a classifier had before {@link logitsView} took the softmax off. The model
 * shares `net`'s layers (disposing it disposes them).
 */
export function withSoftmax(net: LayersModel, name: string): LayersModel {
  const softmax = layers.activation({ activation: 'softmax', name });
  return model({
    name: net.name,
    inputs: net.inputs,
    outputs: softmax.apply(net.outputs[0] as SymbolicTensor) as SymbolicTensor,
  });
}
