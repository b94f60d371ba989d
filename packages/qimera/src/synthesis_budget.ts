import { type SynthesisStyle, synthesizeImages } from '@qimera/distill';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** The most of a time budget that synthesizing the fidelity set may take. */
export const FIDELITY_SYNTHESIS_SHARE = 0.1;
/** The most of a time budget that synthesizing the calibration images may take. */
export const CALIBRATION_SYNTHESIS_SHARE = 0.2;
/** Calibration images kept however short the budget: ranges from fewer are unreliable. */
export const MIN_CALIBRATION_IMAGES = 16;
// Adam steps timed, after one untimed step that warms the backend up (its first kernels run far slower).
const PROBE_STEPS = 2;

/**
 * How many of `wanted` synthesized images fit in `share` of `budgetMs` at `msPerImage`
 * each: at least `minimum` (never more than `wanted`), at most `wanted`.
 */
export function imagesWithinBudget(
  wanted: number,
  msPerImage: number,
  budgetMs: number,
  share: number,
  minimum: number,
): number {
  const fit = Math.floor((share * budgetMs) / msPerImage);
  return Math.min(wanted, Math.max(minimum, fit));
}

/**
 * Milliseconds to synthesize one image with `steps` Adam steps in batches of
 * `batchSize`, timed on one batch (one step to warm the backend up, then 2 timed
 * steps; the images are thrown away): at 224x224 synthesis takes a large part of a
 * budget of minutes, so the run sizes its image sets by it.
 */
export async function msPerSynthesizedImage(
  teacher: LayersModel,
  batchSize: number,
  steps: number,
  synthesis: SynthesisStyle,
): Promise<number> {
  const classes = teacher.outputs[0]?.shape[1] as number;
  const targets = new Float32Array(batchSize * classes);
  for (let i = 0; i < batchSize; i++) targets[i * classes + (i % classes)] = 1;
  const timed = async (probeSteps: number) => {
    const started = performance.now();
    const images = await synthesizeImages(teacher, { ...synthesis, targets, batchSize, steps: probeSteps });
    images.dispose();
    return performance.now() - started;
  };
  await timed(1);
  return ((await timed(PROBE_STEPS)) / PROBE_STEPS / batchSize) * steps;
}
