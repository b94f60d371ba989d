/** One batch of images and the targets the student learns (besides the teacher's logits). */
export interface ImageBatchArrays {
  /** NHWC float32, `batchSize * height * width * channels` values, preprocessed as the teacher expects. */
  images: Float32Array;
  /** Per-sample class distributions (one-hot labels), `batchSize * numClasses` values. */
  targets: Float32Array;
}

/**
 * Where `distill` takes its images from when not from a generator: called once per
 * iteration with the iteration index (0-based) and the batch size.
 */
export type ImageSource = (iteration: number, batchSize: number) => ImageBatchArrays;
