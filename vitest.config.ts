import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';
import { SOURCE_CONDITION, sourceAliases } from './scripts/workspace-sources.js';

// Tests run against the workspace sources, so `pnpm test` needs no build first: the
// aliases map packages to their sources, the '@qimera/source' condition maps packages'
// `#` imports to theirs (Node's variants: tests run in Node).
const conditions = [SOURCE_CONDITION, ...defaultServerConditions];

export default defineConfig({
  ssr: { resolve: { conditions, externalConditions: conditions } },
  resolve: { conditions, alias: sourceAliases },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
