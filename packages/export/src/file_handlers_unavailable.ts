import type { io } from '@tensorflow/tfjs-core';

const INSTEAD = "pass a tfjs IO handler or a URL ('downloads://name', 'indexeddb://name', 'http(s)://...')";

/** Where there is no file system (browsers): says what to pass instead of a folder. */
export function folderSaveHandler(target: string, _options?: { overwrite?: boolean }): io.IOHandler {
  throw new Error(`cannot save to the folder '${target}': folders need Node.js; ${INSTEAD}`);
}

/** Where there is no file system (browsers): says what to pass instead of a file path. */
export function fileLoadHandler(source: string): io.IOHandler {
  throw new Error(`cannot load the file '${source}': file paths need Node.js; ${INSTEAD}`);
}
