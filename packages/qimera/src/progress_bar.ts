import type { DistillProgress, Fidelity } from '@qimera/distill';

/** Options of {@link progressBar}. */
export interface ProgressBarOptions {
  /** A wall-clock budget: the bar then fills with time (the iteration budget is nominal). */
  timeBudgetMs?: number;
  /** Where lines go. Default `process.stderr`. */
  stream?: NodeJS.WriteStream;
}

/**
 * A one-line progress bar for `quantizeDataFree` / `distill` progress (Node): step,
 * phase, losses, fidelity to the teacher (top-1 agreement and KL, when measured) and
 * ETA, redrawn in place on a terminal, printed every 10% otherwise so
 * logs stay short.
 */
export function progressBar(
  label: string,
  options: ProgressBarOptions = {},
): (p: DistillProgress & { fidelity?: Fidelity | null }) => void {
  const stream = options.stream ?? process.stderr;
  const budget = options.timeBudgetMs;
  let lastDecile = -1;
  return (p) => {
    const share = Math.min(1, budget ? p.elapsedMs / budget : p.iteration / p.iterations);
    const etaMs = budget ? Math.max(0, budget - p.elapsedMs) : p.etaMs;
    const width = 24;
    const filled = Math.round(share * width);
    const losses = [
      p.losses.generator === undefined ? '' : `L_G ${p.losses.generator.toFixed(3)}`,
      p.losses.student === undefined ? '' : `L_S ${p.losses.student.toFixed(3)}`,
      p.fidelity ? `agree ${(100 * p.fidelity.all.agreement).toFixed(1)}% KL ${p.fidelity.all.kl.toFixed(3)}` : '',
    ]
      .filter(Boolean)
      .join(' ');
    const steps = budget ? `${p.iteration} its` : `${p.iteration}/${p.iterations}`;
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${steps} ${p.phase} ${losses} ETA ${Math.ceil(etaMs / 1000)}s`;
    if (stream.isTTY) {
      stream.write(`\r${line}${share >= 1 ? '\n' : ''}`);
      return;
    }
    const decile = Math.floor(share * 10);
    if (decile !== lastDecile) {
      lastDecile = decile;
      stream.write(`${line}\n`);
    }
  };
}
