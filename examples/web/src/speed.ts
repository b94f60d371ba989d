import type { DataFreeProgress } from 'qimera';

/**
 * Training images per second (generator steps, and student steps after warm-up): the
 * images of every iteration so far over the trainer's time at the last progress. Null
 * when nothing trained.
 */
export function trainingImagesPerSecond(last: DataFreeProgress | null, batchSize: number | undefined): number | null {
  if (!last || !batchSize || last.elapsedMs <= 0) return null;
  return (last.iteration * batchSize * 1000) / last.elapsedMs;
}
