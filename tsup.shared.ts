import type { Options } from 'tsup';

/**
 * The build every package uses: unbundled ESM (one file per module, so `sideEffects`
 * can name the registration module), bundled type declarations, dependencies external.
 */
export function packageBuild(entries: string[] = ['src/index.ts']): Options {
  return {
    entry: ['src/**/*.ts'],
    bundle: false,
    format: ['esm'],
    target: 'es2022',
    platform: 'neutral',
    dts: { entry: entries },
    sourcemap: true,
    clean: true,
    tsconfig: 'tsconfig.json',
  };
}
