import type { DistillProgress } from 'qimera';

/**
 * A one-line progress bar on stderr (redrawn in place on a terminal, printed every
 * 10% otherwise, so CI logs stay short).
 */
export function progressBar(label: string): (p: DistillProgress) => void {
  let lastDecile = -1;
  return (p) => {
    const share = p.iteration / p.iterations;
    const width = 24;
    const filled = Math.round(share * width);
    const losses = `L_G ${p.losses.generator.toFixed(3)}${p.losses.student === undefined ? '' : ` L_S ${p.losses.student.toFixed(3)}`}`;
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${p.iteration}/${p.iterations} ${p.phase} ${losses} ETA ${Math.ceil(p.etaMs / 1000)}s`;
    if (process.stderr.isTTY) {
      process.stderr.write(`\r${line}${p.iteration === p.iterations ? '\n' : ''}`);
      return;
    }
    const decile = Math.floor(share * 10);
    if (decile !== lastDecile) {
      lastDecile = decile;
      process.stderr.write(`${line}\n`);
    }
  };
}
