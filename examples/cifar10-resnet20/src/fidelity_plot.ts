// How well fidelity (agreement with the teacher on synthesized images, no data) tracks
// real test accuracy over a run's checkpoints: a scatter per run file, and Spearman rank
// correlations of accuracy with the fidelity KL and with the agreement (JSON lines).
//   tsx src/fidelity_plot.ts runs/track.jsonl ../mnist/track-w4a4.jsonl --out docs/img/fidelity.png
// Each file holds checkpoint lines {iteration, accuracy, fidelity: {all: {agreement, kl}}}
// as run.ts and the MNIST track script print them; lines without fidelity are skipped.
import { readFile, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { readScriptOptions, scriptArguments, UsageError } from 'qimera/node';
import { COLORS, drawAxes, INK, niceStep, Raster, type Rgb } from './raster.js';

interface Point {
  kl: number;
  agreement: number;
  accuracy: number;
}

const { values, positionals } = readScriptOptions('fidelity-plot', () => {
  const parsed = parseArgs({
    args: scriptArguments(),
    allowPositionals: true,
    options: {
      out: { type: 'string', default: 'fidelity.png' },
      title: { type: 'string', default: 'Fidelity (synthesized images) against test accuracy, per checkpoint' },
    },
  });
  if (parsed.positionals.length === 0) throw new UsageError('give one or more run output files (JSON lines)');
  return parsed;
});

const runs: { label: string; points: Point[] }[] = [];
for (const file of positionals) {
  const points = (await readFile(file, 'utf8'))
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { accuracy?: number; fidelity?: { all: { kl: number; agreement: number } } })
    .filter((r) => r.fidelity && typeof r.accuracy === 'number' && !('method' in r))
    .map((r) => ({
      kl: r.fidelity?.all.kl as number,
      agreement: r.fidelity?.all.agreement as number,
      accuracy: r.accuracy as number,
    }));
  if (points.length < 2) throw new UsageError(`${file}: fewer than two checkpoints with fidelity`);
  const label = basename(file).replace(/\.jsonl?$/, '');
  runs.push({ label, points });
  console.log(
    JSON.stringify({
      run: label,
      checkpoints: points.length,
      spearmanAccuracyKl: spearman(
        points.map((p) => p.accuracy),
        points.map((p) => -p.kl),
      ),
      spearmanAccuracyAgreement: spearman(
        points.map((p) => p.accuracy),
        points.map((p) => p.agreement),
      ),
    }),
  );
}

// One panel per run (the runs' scales differ): KL on x, accuracy on y.
const panelWidth = 460;
const raster = new Raster(40 + panelWidth * runs.length, 520);
raster.text(20, 14, values.title, INK);
runs.forEach((run, k) => {
  const plot = { left: 90 + k * panelWidth, top: 60, right: 40 + (k + 1) * panelWidth - 30, bottom: 440 };
  const color = COLORS[k % COLORS.length] as Rgb;
  const xs = run.points.map((p) => p.kl);
  const ys = run.points.map((p) => 100 * p.accuracy);
  const [xMin, xMax] = padded(Math.min(...xs), Math.max(...xs));
  const [yMin, yMax] = padded(Math.min(...ys), Math.max(...ys));
  const px = (x: number) => plot.left + ((plot.right - plot.left) * (x - xMin)) / (xMax - xMin);
  const py = (y: number) => plot.bottom - ((plot.bottom - plot.top) * (y - yMin)) / (yMax - yMin);
  const xStep = niceStep(xMax - xMin);
  const yStep = niceStep(yMax - yMin);
  drawAxes(
    raster,
    plot,
    { from: xMin, to: xMax, step: xStep, at: px, label: (x) => String(Number(x.toPrecision(3))) },
    { from: yMin, to: yMax, step: yStep, at: py, label: (y) => `${Number(y.toFixed(1))}%` },
  );
  for (const point of run.points) raster.fillRect(px(point.kl) - 4, py(100 * point.accuracy) - 4, 9, 9, color);
  raster.text(plot.left, plot.top - 24, run.label, color);
  const axis = 'fidelity: KL to the teacher';
  raster.text((plot.left + plot.right) / 2 - Raster.textWidth(axis) / 2, plot.bottom + 34, axis, INK);
});
await writeFile(values.out, raster.toPng());
console.error(`fidelity-plot: wrote ${values.out} (${runs.length} runs)`);

/** `[lo, hi]` widened by 5% each way (and made non-empty). */
function padded(lo: number, hi: number): [number, number] {
  const span = hi - lo || Math.abs(hi) || 1;
  return [lo - 0.05 * span, hi + 0.05 * span];
}

/** Spearman rank correlation (average ranks for ties). */
function spearman(a: number[], b: number[]): number {
  const ra = ranks(a);
  const rb = ranks(b);
  const mean = (v: number[]) => v.reduce((s, x) => s + x, 0) / v.length;
  const ma = mean(ra);
  const mb = mean(rb);
  let cov = 0;
  let va = 0;
  let vb = 0;
  ra.forEach((x, i) => {
    const y = rb[i] as number;
    cov += (x - ma) * (y - mb);
    va += (x - ma) ** 2;
    vb += (y - mb) ** 2;
  });
  return va === 0 || vb === 0 ? 0 : cov / Math.sqrt(va * vb);
}

function ranks(values: number[]): number[] {
  const order = values.map((v, i) => [v, i] as const).sort((x, y) => x[0] - y[0]);
  const out = new Array<number>(values.length);
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1]?.[0] === order[i]?.[0]) j++;
    for (let k = i; k <= j; k++) out[(order[k] as readonly [number, number])[1]] = (i + j) / 2;
    i = j + 1;
  }
  return out;
}
