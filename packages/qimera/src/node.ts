/**
 * Node-only helpers: model files on disk without tfjs-node, a terminal progress bar and
 * script arguments.
 * @packageDocumentation
 */
export * from '@qimera/node-io';
export { type ProgressBarOptions, progressBar } from './progress_bar.js';
export { scriptArguments } from './script_arguments.js';
