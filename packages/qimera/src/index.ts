/**
 * Data-free quantization of TensorFlow.js image classifiers (Qimera, NeurIPS 2021).
 * `quantizeDataFree` runs the whole method; the parts are re-exported so custom
 * pipelines can assemble them. Node-only file IO lives in `qimera/node`.
 * @packageDocumentation
 */
export * from '@qimera/datasets';
export * from '@qimera/disentangle';
export * from '@qimera/distill';
export * from '@qimera/export';
export * from '@qimera/generator';
export * from '@qimera/integer';
export * from '@qimera/quantizers';
export * from '@qimera/superposition';
export * from '@qimera/wasm-training';
export { BACKEND_PREFERENCE, useFastestBackend } from './backend.js';
export {
  CALIBRATED_RANGES,
  CALIBRATION_IMAGES,
  calibrateOnImages,
  type ImageCalibrationOptions,
  type ImageCalibrationReport,
} from './calibrate_on_images.js';
export {
  type CalibratedStartOptions,
  type CalibratedStartReport,
  calibrateStart,
  RECONSTRUCTION_IMAGES,
  RECONSTRUCTION_SYNTHESIS_SHARE,
} from './calibrated_start.js';
export {
  defaultGenerationSize,
  MAX_GENERATION_SIDE,
  type MethodDefaults,
  methodDefaults,
  SCHEDULE_PRESETS,
  type SchedulePreset,
} from './defaults.js';
export { type LogitsView, logitsView, withSoftmax } from './logits_view.js';
export {
  backendMemoryLimit,
  type MemoryPlan,
  planTraining,
  type TrainingMemoryPlan,
  WASM_HEAP_BYTES,
} from './memory_plan.js';
export {
  DATA_FREE_METHODS,
  type DataFreeMethod,
  type DataFreeOptions,
  type DataFreeProgress,
  type DataFreeReport,
  DEFAULT_BUDGET_MINUTES,
  quantizeDataFree,
  STARTING_POINTS,
  type StartingPoint,
  type TrainedGenerator,
  type TrainerOverrides,
} from './quantize_data_free.js';
export {
  CALIBRATION_SYNTHESIS_SHARE,
  FIDELITY_SYNTHESIS_SHARE,
  imagesWithinBudget,
  MIN_CALIBRATION_IMAGES,
  msPerSynthesizedImage,
} from './synthesis_budget.js';
export { type ClassifierShape, inspectClassifier } from './validate.js';
