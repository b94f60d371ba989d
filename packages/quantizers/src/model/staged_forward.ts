import { dispose, type Tensor, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel, SymbolicTensor } from '@tensorflow/tfjs-layers';

/**
 * A forward pass of a single-input model over batches of images that runs only as far
 * as it is asked: {@link StagedForward.valuesOf} computes a tensor of the model's graph
 * from what is already computed, and each value is freed once every consumer of it has
 * run. Asked for layer after layer in model order, all of them cost one forward pass
 * in total, and the layers run with their weights as they are when reached, so a caller
 * may change a layer's weights before asking for what follows it (layer-wise
 * reconstruction). Memory: the values crossing the point reached, for every image.
 */
export class StagedForward {
  private readonly values = new Map<number, Tensor[]>();
  // Consumers of each value (nodes of the model's graph) that have not run yet.
  private readonly pending = new Map<number, number>();
  private readonly inputId: number;

  /**
   * @param model a functional or Sequential model with one input.
   * @param batches the model's input, in batches; read, never disposed here.
   */
  constructor(
    private readonly model: LayersModel,
    batches: Tensor[],
  ) {
    const [input] = model.inputs;
    if (model.inputs.length !== 1 || !input) {
      throw new Error(`StagedForward: model '${model.name}' must have exactly one input, has ${model.inputs.length}`);
    }
    this.inputId = input.id;
    this.values.set(input.id, batches);
    for (const tensor of graphOf(model)) {
      for (const from of tensor.inputs) this.pending.set(from.id, (this.pending.get(from.id) ?? 0) + 1);
    }
  }

  /**
   * The values of `target`, a tensor of the model's graph (a layer's `input` or
   * `output`), one per batch: computed from the values at hand and owned here. They
   * stay valid until the next call, which may consume them.
   *
   * @throws if `target` is not part of the model's graph.
   */
  valuesOf(target: SymbolicTensor): Tensor[] {
    const known = this.values.get(target.id);
    if (known) return known;
    if (target.inputs.length === 0) {
      throw new Error(
        `StagedForward: tensor '${target.name}' is not part of model '${this.model.name}' (not computed from its input)`,
      );
    }
    const inputs = target.inputs.map((input) => this.valuesOf(input));
    const outputs = (inputs[0] as Tensor[]).map((_, b) =>
      tidy(() => {
        // As the model's predict calls it: a list of inputs, no call arguments.
        const out = target.sourceLayer.apply(inputs.map((values) => values[b] as Tensor)) as Tensor | Tensor[];
        return Array.isArray(out) ? (out[target.outputTensorIndex ?? 0] as Tensor) : out;
      }),
    );
    this.values.set(target.id, outputs);
    for (const input of target.inputs) this.consumed(input.id);
    return outputs;
  }

  /** Frees every value still held (the input batches excepted). */
  dispose(): void {
    for (const [id, values] of this.values) if (id !== this.inputId) dispose(values);
    this.values.clear();
  }

  private consumed(id: number): void {
    const left = (this.pending.get(id) ?? 0) - 1;
    this.pending.set(id, left);
    if (left > 0 || id === this.inputId) return;
    const values = this.values.get(id);
    if (values) dispose(values);
    this.values.delete(id);
  }
}

/** Every tensor the model's outputs are computed from, each once. */
function graphOf(model: LayersModel): SymbolicTensor[] {
  const seen = new Map<number, SymbolicTensor>();
  const stack = [...model.outputs];
  for (let tensor = stack.pop(); tensor; tensor = stack.pop()) {
    if (seen.has(tensor.id)) continue;
    seen.set(tensor.id, tensor);
    stack.push(...tensor.inputs);
  }
  return [...seen.values()];
}
