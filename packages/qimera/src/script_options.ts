import { MAX_BITS, MIN_BITS } from '@qimera/quantizers';

/** A command-line mistake: scripts print it and exit with code 2 (the CLI adds a pointer to --help). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A {@link UsageError}, or one of `parseArgs`'s (unknown option, missing value: ERR_PARSE_ARGS_* codes). */
export function isUsageError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'));
}

/** Reads a number option; `undefined` when it was not given. */
function numberOption(
  value: string | undefined,
  option: string,
  valid: (n: number) => boolean,
  what: string,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  // Number('') and Number(' ') are 0: an empty value is a mistake, not zero.
  if (value.trim() === '' || !valid(n)) throw new UsageError(`${option} must be ${what}, got '${value}'`);
  return n;
}

/**
 * A positive integer option (`--iterations 947`), or `undefined` when not given.
 * @throws UsageError naming the option otherwise.
 */
export function positiveInteger(value: string | undefined, option: string): number | undefined {
  return numberOption(value, option, (n) => Number.isInteger(n) && n > 0, 'a positive integer');
}

/**
 * A non-negative integer option (`--warmup-epochs 0`), or `undefined` when not given.
 * @throws UsageError naming the option otherwise.
 */
export function nonNegativeInteger(value: string | undefined, option: string): number | undefined {
  return numberOption(value, option, (n) => Number.isInteger(n) && n >= 0, 'a non-negative integer');
}

/**
 * A positive finite number option (`--minutes 2.5`), or `undefined` when not given.
 * @throws UsageError naming the option otherwise.
 */
export function positiveNumber(value: string | undefined, option: string): number | undefined {
  return numberOption(value, option, (n) => Number.isFinite(n) && n > 0, 'a positive number');
}

/**
 * A probability option (`--drop-quantization 0.5`): a number from 0 to 1, or
 * `undefined` when not given.
 * @throws UsageError naming the option otherwise.
 */
export function probabilityOption(value: string | undefined, option: string): number | undefined {
  return numberOption(value, option, (n) => n >= 0 && n <= 1, 'a probability from 0 to 1');
}

/**
 * A bit-width option (`--input-bits 8`): an integer from 2 to 16, or `undefined` when
 * not given.
 * @throws UsageError naming the option otherwise.
 */
export function bitWidthOption(value: string | undefined, option: string): number | undefined {
  return numberOption(
    value,
    option,
    (n) => Number.isInteger(n) && n >= MIN_BITS && n <= MAX_BITS,
    `an integer from ${MIN_BITS} to ${MAX_BITS}`,
  );
}

/**
 * Refuses options given more than once (`parseArgs` would silently keep the last).
 * @param tokens `parseArgs`'s tokens (`tokens: true`).
 * @throws UsageError naming the first repeated option.
 */
export function rejectRepeatedOptions(tokens: readonly { kind: string; name?: string; rawName?: string }[]): void {
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === undefined) continue;
    if (seen.has(token.name)) {
      throw new UsageError(`${token.rawName ?? `--${token.name}`} was given more than once; give it once`);
    }
    seen.add(token.name);
  }
}

/**
 * The arguments with a value that starts with a minus sign and a digit joined to the
 * string option before it (`--input-range -1,1` as `--input-range=-1,1`), which Node's
 * parseArgs otherwise refuses as ambiguous; the value is then checked as any other.
 */
export function attachNegativeValues(args: readonly string[], stringOptions: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const next = args[i + 1];
    if (stringOptions.includes(arg.replace(/^--/, '')) && arg.startsWith('--') && next && /^-[\d.]/.test(next)) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/**
 * A range option `min,max` of two finite numbers with min < max (`--input-range=-1,1`),
 * or `undefined` when not given.
 * @throws UsageError naming the option otherwise.
 */
export function rangeOption(value: string | undefined, option: string): [number, number] | undefined {
  if (value === undefined) return undefined;
  const parts = value.split(',').map((part) => (part.trim() === '' ? Number.NaN : Number(part)));
  const [lo, hi] = parts as [number, number];
  if (parts.length !== 2 || !Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) {
    throw new UsageError(`${option} must be min,max with finite numbers and min < max, got '${value}'`);
  }
  return [lo, hi];
}

/**
 * A string option that must be one of `allowed` (`--workers 2`), or `undefined` when not given.
 * @throws UsageError naming the option and the allowed values otherwise.
 */
export function choiceOption<T extends string>(
  value: string | undefined,
  option: string,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined) return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  const list = allowed.length > 1 ? `${allowed.slice(0, -1).join(', ')} or ${allowed.at(-1)}` : allowed[0];
  throw new UsageError(`${option} must be ${list}, got '${value}'`);
}

/**
 * `--workers`: training threads, 1 or 2 (the data-parallel halves of distill), or
 * `undefined` when not given.
 * @throws UsageError otherwise.
 */
export function workersOption(value: string | undefined): 1 | 2 | undefined {
  const workers = choiceOption(value, '--workers', ['1', '2']);
  return workers === undefined ? undefined : workers === '2' ? 2 : 1;
}

/** Weight and activation bits read from `--bits W/A`. */
export interface BitsOption {
  weightBits: number;
  activationBits: number;
}

/** Options of {@link bitsOption}. */
export interface BitsRange {
  /** Fewest bits allowed. Default 2, the quantizers' least. */
  min?: number;
  /** Most bits allowed. Default 16, the quantizers' most. */
  max?: number;
  /** Why the range is narrower than the quantizers' (said in the error). */
  why?: string;
}

/**
 * `--bits W/A` (`4/4`): weight and activation bits, both within the range, or
 * `undefined` when not given.
 * @throws UsageError naming the option and the range otherwise.
 */
export function bitsOption(value: string | undefined, range: BitsRange = {}): BitsOption | undefined {
  if (value === undefined) return undefined;
  const { min = MIN_BITS, max = MAX_BITS, why } = range;
  const match = /^(\d+)\/(\d+)$/.exec(value);
  const [weightBits, activationBits] = [Number(match?.[1]), Number(match?.[2])];
  if (!match || [weightBits, activationBits].some((bits) => bits < min || bits > max)) {
    const reason = why ? ` (${why})` : '';
    throw new UsageError(`--bits must be W/A with both from ${min} to ${max}${reason}, got '${value}'`);
  }
  return { weightBits, activationBits };
}

/**
 * Runs `read` (a script's option parsing); on a {@link UsageError} or a `parseArgs`
 * error (unknown option, missing value) prints `script: message` and exits with code 2,
 * so a command-line mistake shows as one line instead of a stack trace.
 */
export function readScriptOptions<T>(script: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (!isUsageError(error)) throw error;
    console.error(`${script}: ${(error as Error).message}`);
    process.exit(2);
  }
}
