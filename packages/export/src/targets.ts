import { io } from '@tensorflow/tfjs-core';

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A save handler for a target: handlers pass through, URLs ('indexeddb://',
 * 'downloads://', 'http://', 'file://' with tfjs-node ...) go to tfjs's routers, any
 * other string is a folder on this machine (Node only).
 */
export async function saveHandlerFor(target: string | io.IOHandler): Promise<io.IOHandler> {
  if (typeof target !== 'string') return target;
  if (URL_SCHEME.test(target)) return routed(io.getSaveHandlers(target), target, 'save');
  // Loaded on demand so that browser bundles never pull in node:fs.
  const { dirSaveHandler } = await import('@qimera/node-io');
  return dirSaveHandler(target);
}

/** A load handler for a source: like {@link saveHandlerFor}; a plain string is a model.json path. */
export async function loadHandlerFor(source: string | io.IOHandler): Promise<io.IOHandler> {
  if (typeof source !== 'string') return source;
  if (URL_SCHEME.test(source)) return routed(io.getLoadHandlers(source), source, 'load');
  const { fileLoadHandler } = await import('@qimera/node-io');
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
