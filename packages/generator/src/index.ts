/**
 * The GDFQ/Qimera conditional generator: maps a batch of latent vectors (already
 * embedded, superposed and mapped) to images, for any size divisible by 4 and any
 * channel count; plus the class-conditional-BatchNorm variant for many classes.
 * @packageDocumentation
 */
export { ClassConditionalBatchNorm, type ClassConditionalBatchNormArgs } from './class_conditional_bn.js';
export { generateImages } from './generate.js';
export {
  createGenerator,
  GENERATOR_DEFAULTS,
  type GeneratorFootprint,
  type GeneratorOptions,
  generatorFootprint,
} from './generator.js';
export { ResizeImages, type ResizeImagesArgs } from './resize_images.js';
