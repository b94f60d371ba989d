/** Settings QIMERA.md gives per kind of model: CIFAR-size or ImageNet-size. */
export interface MethodDefaults {
  /** Classes per superposed sample (K). */
  slots: number;
  latentDim: number;
  batchSize: number;
  warmupEpochs: number;
  studentLearningRate: number;
  classConditionalGenerator: boolean;
}

/**
 * Defaults by the model's size: K = 2 for up to 10 classes, 10 for up to 100, 500 for
 * more (capped at the class count); ImageNet-scale models (more than 100 classes or
 * images of 64 pixels and more) get latent 512, batch 16, 50 warm-up epochs, student
 * lr 1e-6 and the class-conditional generator, the rest latent 64, batch 200, 4
 * warm-up epochs and lr 1e-4.
 */
export function methodDefaults(numClasses: number, imageSize: number): MethodDefaults {
  const slots = numClasses <= 10 ? 2 : numClasses <= 100 ? 10 : Math.min(500, numClasses);
  const large = numClasses > 100 || imageSize >= 64;
  return large
    ? {
        slots,
        latentDim: 512,
        batchSize: 16,
        warmupEpochs: 50,
        studentLearningRate: 1e-6,
        classConditionalGenerator: true,
      }
    : {
        slots,
        latentDim: 64,
        batchSize: 200,
        warmupEpochs: 4,
        studentLearningRate: 1e-4,
        classConditionalGenerator: false,
      };
}
