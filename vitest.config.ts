import { fileURLToPath } from 'node:url';
import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

// Tests run against the workspace sources, so `pnpm test` needs no build first: the
// aliases map packages to their sources, the '@qimera/source' condition maps packages'
// `#` imports to theirs (Node's variants: tests run in Node).
const conditions = ['@qimera/source', ...defaultServerConditions];

export default defineConfig({
  ssr: { resolve: { conditions, externalConditions: conditions } },
  resolve: {
    conditions,
    alias: [
      { find: /^@qimera\/quantizers$/, replacement: source('./packages/quantizers/src/index.ts') },
      { find: /^@qimera\/node-io$/, replacement: source('./packages/node-io/src/index.ts') },
      { find: /^@qimera\/datasets$/, replacement: source('./packages/datasets/src/index.ts') },
      { find: /^@qimera\/generator$/, replacement: source('./packages/generator/src/index.ts') },
      { find: /^@qimera\/superposition$/, replacement: source('./packages/superposition/src/index.ts') },
      { find: /^@qimera\/disentangle$/, replacement: source('./packages/disentangle/src/index.ts') },
      { find: /^@qimera\/distill$/, replacement: source('./packages/distill/src/index.ts') },
      { find: /^@qimera\/distill\/node$/, replacement: source('./packages/distill/src/node.ts') },
      { find: /^@qimera\/wasm-training$/, replacement: source('./packages/wasm-training/src/index.ts') },
      { find: /^@qimera\/export$/, replacement: source('./packages/export/src/index.ts') },
      { find: /^@qimera\/integer$/, replacement: source('./packages/integer/src/index.ts') },
      { find: /^qimera\/node$/, replacement: source('./packages/qimera/src/node.ts') },
      { find: /^qimera$/, replacement: source('./packages/qimera/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
