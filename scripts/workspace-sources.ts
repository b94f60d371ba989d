// The workspace packages mapped to their TypeScript sources, for tools that run or bundle
// them without a build (vitest, the web example's Vite server): aliases for the packages'
// entry points and the '@qimera/source' condition for their `#` imports.
import { fileURLToPath } from 'node:url';

const source = (path: string) => fileURLToPath(new URL(`../packages/${path}`, import.meta.url));

/** The condition that maps packages' `#` imports to their sources. */
export const SOURCE_CONDITION = '@qimera/source';

/** Vite / vitest aliases from each package entry point to its source. */
export const sourceAliases = [
  { find: /^@qimera\/quantizers$/, replacement: source('quantizers/src/index.ts') },
  { find: /^@qimera\/node-io$/, replacement: source('node-io/src/index.ts') },
  { find: /^@qimera\/datasets$/, replacement: source('datasets/src/index.ts') },
  { find: /^@qimera\/generator$/, replacement: source('generator/src/index.ts') },
  { find: /^@qimera\/superposition$/, replacement: source('superposition/src/index.ts') },
  { find: /^@qimera\/disentangle$/, replacement: source('disentangle/src/index.ts') },
  { find: /^@qimera\/distill$/, replacement: source('distill/src/index.ts') },
  { find: /^@qimera\/distill\/node$/, replacement: source('distill/src/node.ts') },
  { find: /^@qimera\/wasm-training$/, replacement: source('wasm-training/src/index.ts') },
  { find: /^@qimera\/export$/, replacement: source('export/src/index.ts') },
  { find: /^@qimera\/integer$/, replacement: source('integer/src/index.ts') },
  { find: /^qimera\/node$/, replacement: source('qimera/src/node.ts') },
  { find: /^qimera$/, replacement: source('qimera/src/index.ts') },
];
