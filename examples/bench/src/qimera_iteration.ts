import { getBackend } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  backendMemoryLimit,
  ClassEmbedding,
  createDisentanglementMapping,
  createGenerator,
  defaultGenerationSize,
  distill,
  type GeneratorOptions,
  generatorFootprint,
  methodDefaults,
  planTraining,
  quantizeModel,
} from 'qimera';
import { teacherShape } from './teachers.js';

/**
 * Wall time of each of `iterations` full Qimera iterations, in ms: the generator
 * `quantizeDataFree` builds for `teacher` (the official width 128, latent and
 * class-conditional BN by model size, working at `defaultGenerationSize`, mapping to
 * 100) through `teacher`, then a W4A4 student step, on `workers` threads, in the
 * micro-batches `quantizeDataFree` plans for the backend's memory. The first two
 * iterations create optimiser state and calibrate; callers time the rest.
 * `afterIteration(i)` runs between iteration i and i + 1.
 */
export async function qimeraIterationTimes(
  teacher: LayersModel,
  options: { batch: number; workers: number; iterations: number; afterIteration?: (iteration: number) => void },
): Promise<{ times: number[]; microBatchSize: number | null }> {
  const { image, classes } = teacherShape(teacher);
  const defaults = methodDefaults(classes, Math.max(image[0], image[1]));
  const generatorOptions: GeneratorOptions = {
    imageSize: [image[0], image[1]],
    generationSize: defaultGenerationSize(image[0], image[1]),
    channels: image[2],
    inputDim: 100,
    ...(defaults.classConditionalGenerator ? { classConditional: { numClasses: classes } } : {}),
  };
  const { microBatchSize } = planTraining(
    teacher,
    generatorFootprint(generatorOptions),
    options.batch,
    options.workers,
    backendMemoryLimit(getBackend()),
  );
  const student = await quantizeModel(teacher, { weightBits: 4, activationBits: 4 });
  const generator = createGenerator(generatorOptions);
  const embedding = ClassEmbedding.random(classes, defaults.latentDim, { seed: 1 });
  const mapping = createDisentanglementMapping({ latentDim: defaults.latentDim });
  const stamps = [performance.now()];
  try {
    await distill({
      teacher,
      student,
      generator,
      embedding,
      mapping,
      workers: options.workers,
      batchSize: options.batch,
      iterations: options.iterations,
      warmupEpochs: 0,
      ...(microBatchSize !== null ? { microBatchSize } : {}),
      onProgress: () => {
        options.afterIteration?.(stamps.length - 1);
        stamps.push(performance.now());
      },
    });
  } finally {
    for (const m of [student, generator, mapping]) m.dispose();
    embedding.dispose();
  }
  return { times: stamps.slice(1).map((t, i) => t - (stamps[i] as number)), microBatchSize };
}
