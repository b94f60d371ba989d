/**
 * Node-only helpers: model files on disk without tfjs-node, and a terminal progress bar.
 * @packageDocumentation
 */
export * from '@qimera/node-io';
export { type ProgressBarOptions, progressBar } from './progress_bar.js';
