import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defineConfig, type Plugin } from 'vite';
import { SOURCE_CONDITION, sourceAliases } from '../../scripts/workspace-sources.js';
import { bundledDigits } from './bundled_digits.js';

// wasm threads need SharedArrayBuffer, which browsers give cross-origin isolated pages only.
const CROSS_ORIGIN_ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

// The workspace packages from their sources (no build needed) with their browser
// variants; the bundled MNIST teacher served from the MNIST example's fixtures.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  publicDir: fileURLToPath(new URL('../mnist/fixtures', import.meta.url)),
  resolve: { alias: sourceAliases, conditions: [SOURCE_CONDITION, ...defaultClientConditions] },
  plugins: [digitsModule()],
  worker: { format: 'es' },
  server: { headers: CROSS_ORIGIN_ISOLATION },
  preview: { headers: CROSS_ORIGIN_ISOLATION },
  build: {
    target: 'es2022',
    chunkSizeWarningLimit: 4096,
    // Unminified: tfjs-wasm starts its threads from the source text of its (bundled)
    // module factory, which minification breaks ('e is not defined' in every thread).
    minify: false,
    rolldownOptions: { checks: { pluginTimings: false } },
  },
});

/** `virtual:bundled-digits`: the digits, read from the `mnist` package when the page is built. */
function digitsModule(): Plugin {
  const id = 'virtual:bundled-digits';
  return {
    name: 'bundled-digits',
    resolveId: (source) => (source === id ? `\0${id}` : null),
    load: (resolved) => (resolved === `\0${id}` ? `export default ${JSON.stringify(bundledDigits())};` : null),
  };
}
