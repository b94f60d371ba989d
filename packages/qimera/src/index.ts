/**
 * Data-free quantization of TensorFlow.js image classifiers. This umbrella package
 * re-exports the parts, so one import serves custom pipelines; Node-only file IO lives
 * in `qimera/node`.
 * @packageDocumentation
 */
export * from '@qimera/datasets';
export * from '@qimera/quantizers';
