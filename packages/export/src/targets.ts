import { io } from '@tensorflow/tfjs-core';
// Node: folders and files through @qimera/node-io; elsewhere (browsers) an error naming
// what to pass instead, so browser bundles never pull in node:fs.
import { fileLoadHandler, folderSaveHandler } from '#file-handlers';

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A save handler for a target: handlers pass through, URLs ('indexeddb://',
 * 'downloads://', 'http://', 'file://' with tfjs-node ...) go to tfjs's routers, any
 * other string is a folder on this machine (Node only), replaced only with `overwrite`.
 */
export async function saveHandlerFor(
  target: string | io.IOHandler,
  options: { overwrite?: boolean } = {},
): Promise<io.IOHandler> {
  if (typeof target !== 'string') return target;
  if (URL_SCHEME.test(target)) return routed(io.getSaveHandlers(target), target, 'save');
  return folderSaveHandler(target, options);
}

/** A load handler for a source: like {@link saveHandlerFor}; a plain string is a model.json path. */
export async function loadHandlerFor(source: string | io.IOHandler): Promise<io.IOHandler> {
  if (typeof source !== 'string') return source;
  if (URL_SCHEME.test(source)) return routed(io.getLoadHandlers(source), source, 'load');
  return fileLoadHandler(source);
}

/** How a source or target is named in messages. */
export function describeTarget(target: string | io.IOHandler): string {
  return typeof target === 'string' ? target : 'the given IO handler';
}

function routed(handlers: io.IOHandler[], url: string, what: 'save' | 'load'): io.IOHandler {
  const [handler] = handlers;
  if (!handler) throw new Error(`no tfjs ${what} handler is registered for '${url}'`);
  return handler;
}
