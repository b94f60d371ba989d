import { image, serialization, type Tensor, type Tensor4D, tidy } from '@tensorflow/tfjs-core';
import { layers, type Shape } from '@tensorflow/tfjs-layers';

/** Options of {@link ResizeImages}. */
export interface ResizeImagesArgs {
  height: number;
  width: number;
  name?: string;
}

/**
 * Bilinear resizing of NHWC images to `height` x `width`, corners aligned (the form
 * whose gradient tfjs computes exactly: its ResizeBilinearGrad takes no half-pixel
 * option). tfjs-layers 4.22's own `Resizing` layer drops the batch dimension from its
 * output shape, so it cannot sit inside a model.
 */
export class ResizeImages extends layers.Layer {
  static className = 'ResizeImages';
  readonly height: number;
  readonly width: number;

  constructor(args: ResizeImagesArgs) {
    super(args);
    this.height = args.height;
    this.width = args.width;
  }

  override call(inputs: Tensor | Tensor[]): Tensor {
    return tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as Tensor4D;
      return image.resizeBilinear(x, [this.height, this.width], true);
    });
  }

  override computeOutputShape(inputShape: Shape | Shape[]): Shape {
    const [batch, , , channels] = inputShape as Shape;
    return [batch ?? null, this.height, this.width, channels ?? null];
  }

  override getConfig(): serialization.ConfigDict {
    return { ...super.getConfig(), height: this.height, width: this.width };
  }
}

// Registered so generators with this layer can be saved and loaded (checkpoints).
serialization.registerClass(ResizeImages);
