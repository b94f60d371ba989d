/**
 * The Node.js-only part of `@qimera/distill`: starting ES-module worker threads.
 * @packageDocumentation
 */
export { spawnModuleWorker } from './worker_entry.js';
