/** The exit code of a run stopped by SIGINT / SIGTERM (128 + SIGINT's number, as shells report it). */
export const INTERRUPTED_EXIT_CODE = 130;

const SIGNALS = ['SIGINT', 'SIGTERM'] as const;

/** What {@link abortOnInterrupt} listens on: `process`, or a stand-in in tests. */
export interface SignalTarget {
  on(event: (typeof SIGNALS)[number], listener: (signal: string) => void): unknown;
  off(event: (typeof SIGNALS)[number], listener: (signal: string) => void): unknown;
  exit(code: number): void;
}

/**
 * Turns the first SIGINT or SIGTERM into an abort of `controller` (a run then stops
 * after its current step and its result can still be written), and a second one into
 * an exit at once with {@link INTERRUPTED_EXIT_CODE}. Each is announced through `say`.
 * @returns a function that removes the handlers.
 */
export function abortOnInterrupt(
  controller: AbortController,
  say: (line: string) => void,
  target: SignalTarget = process,
): () => void {
  const listener = (signal: string) => {
    if (controller.signal.aborted) {
      say(`${signal} again: quitting at once`);
      target.exit(INTERRUPTED_EXIT_CODE);
      return;
    }
    say(
      `${signal}: stopping after the current step; the result so far will be written (${signal} again quits at once)`,
    );
    controller.abort();
  };
  for (const signal of SIGNALS) target.on(signal, listener);
  return () => {
    for (const signal of SIGNALS) target.off(signal, listener);
  };
}
