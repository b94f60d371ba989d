/** Node: a folder path saves with @qimera/node-io's atomic folder writer, a model.json path loads from disk. */
export { dirSaveHandler as folderSaveHandler, fileLoadHandler } from '@qimera/node-io';
