/** A command-line mistake: scripts print it and exit with code 2 (the CLI adds a pointer to --help). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
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
