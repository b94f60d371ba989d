/**
 * Node-only helpers: model files on disk without tfjs-node.
 * @packageDocumentation
 */
export * from '@qimera/node-io';
