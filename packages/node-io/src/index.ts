/**
 * Model files for Node without tfjs-node: load a tfjs LayersModel from `model.json`
 * (sharded weights included) and save one to a folder, with errors that name the
 * file and the problem.
 * @packageDocumentation
 */
export { ModelFileError } from './errors.js';
export { fileLoadHandler, loadLayersModelFromFile, readFileOrThrow } from './load.js';
export { entryBytes, groupBytes } from './manifest.js';
export {
  type CheckSaveFolderOptions,
  checkSaveFolder,
  type DirSaveOptions,
  dirSaveHandler,
  type SavedModelFiles,
  type SaveOptions,
  saveLayersModelToDir,
  writeFolder,
} from './save.js';
export { topologyProblem } from './topology_check.js';
