import {
  add,
  matMul,
  moments,
  mul,
  reshape,
  rsqrt,
  serialization,
  sub,
  type Tensor,
  tidy,
} from '@tensorflow/tfjs-core';
import { initializers, type LayerVariable, layers, type Shape } from '@tensorflow/tfjs-layers';

/** Options of {@link ClassConditionalBatchNorm}. */
export interface ClassConditionalBatchNormArgs {
  numClasses: number;
  /** Added to the variance. Default 1e-5. */
  epsilon?: number;
  name?: string;
}

/**
 * BatchNorm whose scale and shift depend on the class: inputs `[x, mix]` with `x`
 * NHWC and `mix` `[batch, numClasses]` per-sample class weights (one-hot, or the
 * superposition coefficients). `x` is normalised with its batch statistics (a
 * generator always runs in training mode), then `y = x̂ · (mix·Γ) + mix·B` with
 * per-class tables Γ (init 1) and B (init 0): the class-conditional BN of the
 * ImageNet GDFQ/Qimera generator, extended to mixtures.
 */
export class ClassConditionalBatchNorm extends layers.Layer {
  static className = 'ClassConditionalBatchNorm';
  readonly numClasses: number;
  readonly epsilon: number;
  private gamma: LayerVariable | null = null;
  private beta: LayerVariable | null = null;

  constructor(args: ClassConditionalBatchNormArgs) {
    super(args);
    if (!Number.isInteger(args.numClasses) || args.numClasses < 1) {
      throw new RangeError(`ClassConditionalBatchNorm '${this.name}': numClasses must be a positive integer`);
    }
    this.numClasses = args.numClasses;
    this.epsilon = args.epsilon ?? 1e-5;
  }

  override build(inputShape: Shape | Shape[]): void {
    const channels = (inputShape[0] as Shape)[3];
    if (channels == null) throw new Error(`ClassConditionalBatchNorm '${this.name}': channel count must be known`);
    this.gamma = this.addWeight('gamma', [this.numClasses, channels], 'float32', initializers.ones());
    this.beta = this.addWeight('beta', [this.numClasses, channels], 'float32', initializers.zeros());
    this.built = true;
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => {
      const [x, mix] = inputs as Tensor[];
      if (!x || !mix || !this.gamma || !this.beta) {
        throw new Error(`ClassConditionalBatchNorm '${this.name}' needs inputs [x, classWeights]`);
      }
      const { mean, variance } = moments(x, [0, 1, 2], true);
      const normalized = mul(sub(x, mean), rsqrt(add(variance, this.epsilon)));
      const perSample = (table: LayerVariable) => reshape(matMul(mix, table.read()), [-1, 1, 1, x.shape[3] as number]);
      return add(mul(normalized, perSample(this.gamma)), perSample(this.beta));
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    return inputShape[0] as Shape;
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), numClasses: this.numClasses, epsilon: this.epsilon };
  }
}

// Registered so generators with this layer can be saved and loaded (checkpoints).
serialization.registerClass(ClassConditionalBatchNorm);
