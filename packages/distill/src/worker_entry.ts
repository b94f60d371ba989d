import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Starts the replica worker thread. From the built package this runs
 * `replica_worker.js` directly. When this module itself runs from TypeScript sources
 * (the repo's tests and examples), the worker first registers tsx, the TypeScript
 * loader the repo develops with, and then imports `replica_worker.ts`.
 */
export function spawnReplicaWorker(): Worker {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return new Worker(new URL('./replica_worker.js', here));
  const require = createRequire(here);
  const loader = pathToFileURL(require.resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const entry = new URL('./replica_worker.ts', here).href;
  const code = `import { register } from ${JSON.stringify(loader)}; register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`));
}
