import { useFastestBackend } from '../backend.js';

/** `--backend auto` (the fastest available) or a backend by name; the choice is logged to stderr. */
export function useBackendOption(name: string): Promise<string> {
  return useFastestBackend({
    ...(name === 'auto' ? {} : { prefer: name }),
    log: (line) => process.stderr.write(`${line}\n`),
  });
}
