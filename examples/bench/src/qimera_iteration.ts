import type { LayersModel } from '@tensorflow/tfjs-layers';
import { ClassEmbedding, createDisentanglementMapping, createGenerator, distill, quantizeModel } from 'qimera';

/**
 * Wall time of each of `iterations` full Qimera iterations, in ms: the official CIFAR
 * generator (width 128, mapping to 100) through `teacher`, then a W4A4 student step,
 * on `workers` threads. The first two iterations create optimiser state and calibrate;
 * callers time the rest. `afterIteration(i)` runs between iteration i and i + 1.
 */
export async function qimeraIterationTimes(
  teacher: LayersModel,
  options: { batch: number; workers: number; iterations: number; afterIteration?: (iteration: number) => void },
): Promise<number[]> {
  const student = await quantizeModel(teacher, { weightBits: 4, activationBits: 4 });
  const generator = createGenerator({ imageSize: 32, channels: 3, inputDim: 100 });
  const embedding = ClassEmbedding.random(10, 64, { seed: 1 });
  const mapping = createDisentanglementMapping({ latentDim: 64 });
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
      onProgress: () => {
        options.afterIteration?.(stamps.length - 1);
        stamps.push(performance.now());
      },
    });
  } finally {
    for (const m of [student, generator, mapping]) m.dispose();
    embedding.dispose();
  }
  return stamps.slice(1).map((t, i) => t - (stamps[i] as number));
}
