import { describe, expect, it } from 'vitest';
import { progressBar } from '../src/progress_bar.js';

const progress = (iteration: number, extra: object = {}) => ({
  iteration,
  iterations: 10,
  epoch: 0,
  phase: 'distill' as const,
  superposed: false,
  losses: { generator: 1.23456, student: 0.5 },
  learningRates: {},
  teacherAccuracy: 1,
  elapsedMs: 1000 * iteration,
  etaMs: 1000 * (10 - iteration),
  ...extra,
});

describe('progressBar', () => {
  it('prints a line per tenth off a terminal, with losses, fidelity and the ETA', () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (text: string) => lines.push(text) } as unknown as NodeJS.WriteStream;
    const bar = progressBar('qimera W4A4', { stream });
    const fidelity = { all: { agreement: 0.90625, kl: 0.06139 } };
    bar(progress(1, { fidelity }));
    bar(progress(1, { fidelity })); // same tenth: no new line
    bar(progress(5, { fidelity: null }));
    expect(lines).toEqual([
      'qimera W4A4 [##......................] 1/10 distill L_G 1.235 L_S 0.500 agree 90.6% KL 0.061 ETA 9s\n',
      'qimera W4A4 [############............] 5/10 distill L_G 1.235 L_S 0.500 ETA 5s\n',
    ]);
  });

  it('fills with time under a time budget', () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (text: string) => lines.push(text) } as unknown as NodeJS.WriteStream;
    progressBar('run', { stream, timeBudgetMs: 20_000 })(progress(5));
    expect(lines[0]).toContain('[######..................] 5 its distill');
    expect(lines[0]).toContain('ETA 15s');
  });
});
