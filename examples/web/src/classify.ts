import { argMax, type Tensor, tensor4d, tidy } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

const SIZE = 28;

/** Whether the model takes the bundled digits: 28x28 grey images, 10 classes. */
export function takesDigits(model: LayersModel): boolean {
  const [, h, w, c] = model.inputs[0]?.shape ?? [];
  const classes = model.outputs[0]?.shape.at(-1);
  return h === SIZE && w === SIZE && c === 1 && classes === 10;
}

/** The model's top-1 class of each digit (normalised 28x28x1 images, one after another). */
export function classifyDigits(model: LayersModel, images: Float32Array): number[] {
  const count = images.length / (SIZE * SIZE);
  const classes = tidy(() => argMax(model.predict(tensor4d(images, [count, SIZE, SIZE, 1])) as Tensor, -1));
  try {
    return Array.from(classes.dataSync());
  } finally {
    classes.dispose();
  }
}
