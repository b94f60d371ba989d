import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Whether `workers: 2` can run here: yes, in Node. */
export const workerThreadsAvailable = true;

/**
 * Starts a worker thread running the ES module at `entry`. A TypeScript entry (`.ts`,
 * as in this repo's tests, examples and benchmarks) runs through tsx, the TypeScript
 * loader the repo develops with: the worker registers it before importing the entry
 * (Node 20 workers do not pick up a parent's `--import tsx` in time for their entry).
 */
export function spawnModuleWorker(entry: URL): Worker {
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry);
  const require = createRequire(import.meta.url);
  const loader = pathToFileURL(require.resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const code = `import { register } from ${JSON.stringify(loader)}; register(); await import(${JSON.stringify(entry.href)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(code)}`));
}

/** Starts the replica worker thread (`workers: 2` in training). */
export function spawnReplicaWorker(): Worker {
  return spawnPackageWorker('replica_worker');
}

/** Starts a synthesis worker thread (the second thread of a `SynthesisPool`). */
export function spawnSynthesisWorker(): Worker {
  return spawnPackageWorker('synthesis_worker');
}

/** Starts this package's worker module `name`: `.js` beside the built package, `.ts` from sources. */
function spawnPackageWorker(name: string): Worker {
  const here = import.meta.url;
  return spawnModuleWorker(new URL(here.endsWith('.ts') ? `./${name}.ts` : `./${name}.js`, here));
}
