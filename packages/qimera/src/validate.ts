import type { LayersModel } from '@tensorflow/tfjs-layers';

/** What {@link inspectClassifier} learns about a model. */
export interface ClassifierShape {
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  batchNormLayers: number;
}

/**
 * Checks that `model` is an image classifier the data-free methods can handle: one
 * NHWC input with known size, one `[batch, classes]` output, and (when
 * `needsBatchNorm`, by default when `needsGenerator`) BatchNormalization layers, whose
 * statistics image synthesis matches; for a generator, height and width must be at
 * least 4 pixels.
 *
 * @throws Error listing every problem found.
 */
export function inspectClassifier(
  model: LayersModel,
  options: { needsGenerator: boolean; needsBatchNorm?: boolean },
): ClassifierShape {
  const problems: string[] = [];
  const input = model.inputs[0];
  const output = model.outputs[0];
  if (model.inputs.length !== 1 || !input) problems.push(`the model must have one input, has ${model.inputs.length}`);
  if (model.outputs.length !== 1 || !output)
    problems.push(`the model must have one output (logits), has ${model.outputs.length}`);
  const [, height, width, channels] = input?.shape ?? [];
  if (input && (input.shape.length !== 4 || [height, width, channels].some((d) => d == null))) {
    problems.push(
      `the input must be an NHWC image batch [null, height, width, channels] with known sizes, got ${JSON.stringify(input.shape)}`,
    );
  }
  const numClasses = output?.shape[1];
  if (output && (output.shape.length !== 2 || numClasses == null || numClasses < 2)) {
    problems.push(
      `the output must be class scores [null, classes] with 2 or more classes, got ${JSON.stringify(output.shape)}`,
    );
  }
  const batchNormLayers = model.layers.filter((l) => l.getClassName() === 'BatchNormalization').length;
  if (batchNormLayers === 0 && (options.needsBatchNorm ?? options.needsGenerator)) {
    problems.push(
      "the model has no BatchNormalization layer: 'qimera', 'gdfq' and 'mse' match BN statistics (use method 'minmax')",
    );
  }
  if (options.needsGenerator) {
    if (height != null && width != null && (height < 4 || width < 4)) {
      problems.push(`the generator needs images of at least 4x4 pixels, got ${height}x${width}`);
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `quantizeDataFree: model '${model.name}' is not supported:\n${problems.map((p) => `  - ${p}`).join('\n')}`,
    );
  }
  return {
    height: height as number,
    width: width as number,
    channels: channels as number,
    numClasses: numClasses as number,
    batchNormLayers,
  };
}
