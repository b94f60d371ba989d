/**
 * The Qimera disentanglement mapping: a Dense layer applied to each embedding slot
 * before superposition. On by default in `quantizeDataFree`; off reproduces the
 * official scripts (whose `--no_DM` flag is inverted).
 * @packageDocumentation
 */
export { createDisentanglementMapping, type MappingOptions, mapSlots } from './mapping.js';
