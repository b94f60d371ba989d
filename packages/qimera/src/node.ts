/**
 * Node-only helpers: model files on disk without tfjs-node, ES-module worker threads, a
 * terminal progress bar, script arguments and their number options.
 * @packageDocumentation
 */
export * from '@qimera/distill/node';
export * from '@qimera/node-io';
export { checkCheckpointFolder, checkpointFolder, loadCheckpoint, saveCheckpoint } from './checkpoint_folder.js';
export { type ProgressBarOptions, progressBar } from './progress_bar.js';
export { scriptArguments } from './script_arguments.js';
export {
  type BitsOption,
  type BitsRange,
  bitsOption,
  bitWidthOption,
  choiceOption,
  isUsageError,
  nonNegativeInteger,
  positiveInteger,
  positiveNumber,
  probabilityOption,
  rangeOption,
  readScriptOptions,
  rejectRepeatedOptions,
  UsageError,
  workersOption,
} from './script_options.js';
