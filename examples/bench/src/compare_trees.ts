// This checkout against another one (`--base`, installed and built: e.g. a `git
// worktree` of an earlier commit), run in alternation so that the host's drift in
// speed hits both alike: each round runs `tree_measure.ts` once in the base checkout
// (as a copy placed next to its imports there, removed afterwards) and once here.
// Prints each run's JSON line, then the median per checkout and the median of the
// rounds' ratios.
//   pnpm --filter @qimera/bench compare-trees -- --base /tmp/wt [--rounds 3 --workers 1|2 --repeats 5]
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { positiveInteger, readScriptOptions, scriptArguments, UsageError, workersOption } from 'qimera/node';
import { median } from './stats.js';

const { baseBench, rounds, workers, repeats } = readScriptOptions('compare-trees', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      base: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      workers: { type: 'string', default: '1' },
      repeats: { type: 'string', default: '5' },
    },
  });
  if (!values.base)
    throw new UsageError('--base is required: the path of another checkout of this repo, installed and built');
  const baseBench = resolve(values.base, 'examples/bench');
  if (!existsSync(join(baseBench, 'src/qimera_iteration.ts'))) {
    throw new UsageError(
      `--base: ${baseBench} has no src/qimera_iteration.ts (not a checkout of this repo with the bench)`,
    );
  }
  return {
    baseBench,
    rounds: positiveInteger(values.rounds, '--rounds') as number,
    workers: workersOption(values.workers) as 1 | 2,
    repeats: positiveInteger(values.repeats, '--repeats') as number,
  };
});

const measureFile = fileURLToPath(new URL('./tree_measure.ts', import.meta.url));
const hereBench = resolve(fileURLToPath(new URL('..', import.meta.url)));
const args = ['--workers', String(workers), '--repeats', String(repeats)];

interface Measured {
  trainStepImgPerSec: number;
  qimeraIterationImgPerSec: number;
}
function measureIn(benchDir: string, file: string): Measured {
  const out = execFileSync('npx', ['tsx', file, ...args], {
    cwd: benchDir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const line = out.split('\n').find((l) => l.startsWith('{'));
  if (!line) throw new Error(`compare-trees: no result from ${benchDir}`);
  return JSON.parse(line) as Measured;
}

const copied = join(baseBench, 'src/.tree_measure.ts');
const runs: { base: Measured; here: Measured }[] = [];
try {
  copyFileSync(measureFile, copied);
  for (let round = 0; round < rounds; round++) {
    const base = measureIn(baseBench, copied);
    const here = measureIn(hereBench, measureFile);
    console.log(JSON.stringify({ round, base, here }));
    runs.push({ base, here });
  }
} finally {
  rmSync(copied, { force: true });
}

console.log(
  `\n| bench (workers ${workers}, batch 64) | base, img/s | this checkout, img/s | speed-up (median of ${runs.length} rounds) |\n|---|---|---|---|`,
);
for (const key of ['trainStepImgPerSec', 'qimeraIterationImgPerSec'] as const) {
  const base = median(runs.map((r) => r.base[key]));
  const here = median(runs.map((r) => r.here[key]));
  const ratio = median(runs.map((r) => r.here[key] / r.base[key]));
  console.log(
    `| ${key === 'trainStepImgPerSec' ? 'training step' : 'Qimera iteration'} | ${base.toFixed(1)} | ${here.toFixed(1)} | ${ratio.toFixed(2)}x |`,
  );
}
