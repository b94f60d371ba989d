import { createRequire } from 'node:module';
import { useFastestBackend } from '../backend.js';

// The backends the CLI can run on, fastest first; each is an optional peer of qimera.
const BACKEND_PACKAGES = ['@tensorflow/tfjs-node', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-cpu'];

/**
 * `--backend auto` (the fastest installed) or a backend by name; the choice is logged to
 * stderr. The CLI is an application, so unlike the library it imports the backend
 * packages that are installed.
 */
export async function useBackendOption(name: string): Promise<string> {
  const installed = await importInstalledBackends();
  if (installed.length === 0) {
    throw new Error(`no tfjs backend is installed: install one of ${BACKEND_PACKAGES.join(', ')} beside qimera`);
  }
  return useFastestBackend({
    ...(name === 'auto' ? {} : { prefer: name }),
    log: (line) => process.stderr.write(`${line}\n`),
  });
}

async function importInstalledBackends(): Promise<string[]> {
  const require = createRequire(import.meta.url);
  const installed = BACKEND_PACKAGES.filter((name) => {
    try {
      require.resolve(name);
      return true;
    } catch {
      return false;
    }
  });
  for (const name of installed) await import(name);
  return installed;
}
