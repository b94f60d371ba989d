/**
 * A script's command-line arguments (`argv` after the runtime and the script), without
 * the `--` that `pnpm run <script> -- --flag` forwards to the script as is (pnpm 9 and
 * later), so `parseArgs` sees `--flag` as an option rather than a positional.
 */
export function scriptArguments(argv: readonly string[] = process.argv): string[] {
  const args = argv.slice(2);
  return args[0] === '--' ? args.slice(1) : args;
}
