/**
 * Distillation for data-free quantization: teacher taps (BN input statistics and
 * logits in one forward), the losses (soft cross-entropy, BN statistics, KD), and the
 * alternating generator / quantized-student trainer.
 * @packageDocumentation
 */

// Moved to @qimera/quantizers (quantizerSensitivity scores with it too); still exported here.
export { perImageFidelity } from '@qimera/quantizers';
export {
  CHECKPOINT_FORMAT,
  CHECKPOINT_VERSION,
  type CheckpointOptions,
  type CheckpointTensor,
  checkCheckpoint,
  type DistillCheckpoint,
  type OptimizerState,
} from './checkpoint.js';
export { StudentSnapshot, TrainingDivergedError } from './divergence.js';
export { type Fidelity, type FidelityScores, FidelitySet, type FidelitySetOptions } from './fidelity.js';
export { type GeneratorModels, generateFromLabels } from './generate_from_labels.js';
export { FidelityGuard, GUARD_CRITERIA, type GuardCheckpoint, type GuardCriterion } from './guard.js';
export type { ImageBatchArrays, ImageSource } from './image_source.js';
export {
  batchNormStatisticsLoss,
  distillationLoss,
  type KdReduction,
  softCrossEntropy,
  totalVariation,
} from './losses.js';
export {
  checkInputRange,
  checkJitter,
  checkLossWeight,
  checkPositive,
  checkStartingNoise,
} from './option_checks.js';
export type { DistillProgress, DistillResult, IterationLosses } from './progress.js';
export {
  type GeneratedSamples,
  previewSamples,
  type SamplePreview,
  type SamplePreviewOptions,
} from './sample_preview.js';
export { cosineRate, multiStepRate } from './schedule.js';
export {
  canUseWorkerThreads,
  type DistillOptions,
  type DistillSettings,
  resolveSettings,
  STUDENT_LR_SCHEDULES,
  type StudentLrSchedule,
} from './settings.js';
export {
  multiScaleNoise,
  type NoiseLevel,
  STARTING_NOISES,
  type StartingNoise,
  startingPixels,
} from './starting_noise.js';
export { SynthesisPool } from './synthesis_pool.js';
export {
  type SynthesisOptions,
  type SynthesisStyle,
  synthesisStyle,
  synthesizeImages,
} from './synthesize.js';
export { type BatchNormTap, type BatchStats, type TeacherForward, TeacherTaps } from './taps.js';
export { distill } from './trainer.js';
export { unfusedCopy } from './unfused_copy.js';
export { weightedAverage } from './worker_group.js';
