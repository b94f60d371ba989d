// Top-1 accuracy against training minutes for benchmark runs, as a PNG:
//   tsx src/plot.ts runs/qimera.jsonl runs/gdfq.jsonl --official --out docs/img/w4a4.png
// Each file is what run.ts prints: checkpoint lines {iteration, seconds, accuracy} and
// one summary line; or, for methods that do not train ('adaround', 'mse'), the summary
// lines of runs at several budgets, each a point at its minutes. 'minmax' runs become
// horizontal dashed lines, and so does the FP teacher. Runs that shared the machine
// have no meaningful wall time: --seconds-per-iteration S places their checkpoints at
// iteration x S instead (a rate measured on an idle machine), and the axis says so;
// --own-minutes FILE keeps a run that had the machine to itself (or a different rate)
// at its printed minutes, as runs without iterations always are.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { positiveNumber, readScriptOptions, scriptArguments, UsageError } from 'qimera/node';
import { COLORS, drawAxes, GREY, INK, niceStep, Raster, type Rgb } from './raster.js';

interface Summary {
  method: string;
  iterations: number;
  bits: string;
  mapping?: boolean;
  foldBatchNorm?: boolean;
  fp: number;
  accuracy: number;
  seconds: number;
  workers?: number;
  preset?: string;
  superposeAfter?: number | null;
  reconstruction?: { granularity: string | null; dropQuantization: number | null } | null;
  synthesis?: { tvWeight?: number | null; startingNoise?: string | null } | null;
}
interface Series {
  label: string;
  points: [minutes: number, percent: number][];
  flat: boolean;
}

// The official PyTorch code on this machine, W4A4 (issue #5): minutes, top-1 %.
const OFFICIAL: [number, number][] = [
  [8, 82.38],
  [16, 82.61],
  [31, 82.39],
  [39, 85.15],
  [47, 85.27],
  [54, 84.8],
];
const { values, positionals, secondsPerIteration, ownMinutes } = readScriptOptions('plot', () => {
  const { values, positionals } = parseArgs({
    args: scriptArguments(),
    allowPositionals: true,
    options: {
      out: { type: 'string', default: 'accuracy.png' },
      title: { type: 'string', default: 'ResNet-20 CIFAR-10: top-1 vs training minutes' },
      official: { type: 'boolean', default: false },
      'seconds-per-iteration': { type: 'string' },
      'own-minutes': { type: 'string', multiple: true, default: [] },
    },
  });
  if (positionals.length === 0) throw new UsageError('give one or more run output files (JSON lines from run.ts)');
  const ownMinutes = new Set(values['own-minutes']);
  const stray = [...ownMinutes].find((file) => !positionals.includes(file));
  if (stray !== undefined) throw new UsageError(`--own-minutes ${stray}: not one of the run files given`);
  return {
    values,
    positionals,
    secondsPerIteration: positiveNumber(values['seconds-per-iteration'], '--seconds-per-iteration') ?? null,
    ownMinutes,
  };
});
/** A point's minutes in `file`: its wall time, or its iteration at the given rate (a run without iterations: its wall time). */
const minutesOf = (file: string, iteration: number, seconds: number) =>
  (secondsPerIteration === null || ownMinutes.has(file) || iteration === 0
    ? seconds
    : iteration * secondsPerIteration) / 60;

const series: Series[] = [];
let fp: number | null = null;
for (const file of positionals) {
  const lines = (await readFile(file, 'utf8')).split('\n').filter((l) => l.startsWith('{'));
  const records = lines.map((l) => JSON.parse(l) as Record<string, number | string | boolean>);
  const summaries = records.filter((r) => 'method' in r) as unknown as Summary[];
  const summary = summaries[0];
  if (!summary) {
    console.error(`plot: ${file} has no summary line (did the run finish?)`);
    process.exit(1);
  }
  fp = summary.fp;
  const points = records
    .filter((r) => 'iteration' in r && 'accuracy' in r && !('method' in r))
    .map(
      (r) =>
        [minutesOf(file, r.iteration as number, r.seconds as number), 100 * (r.accuracy as number)] as [number, number],
    );
  for (const run of summaries) points.push([minutesOf(file, run.iterations, run.seconds), 100 * run.accuracy]);
  points.sort((a, b) => a[0] - b[0]);
  const trains = summary.iterations > 0;
  const options = [
    summary.method === 'qimera' && summary.mapping === false ? 'no DM' : '',
    summary.foldBatchNorm ? 'BN folded' : '',
    trains && summary.preset ? `${summary.preset} preset` : '',
    summary.superposeAfter ? `superposed after ${summary.superposeAfter}` : '',
    summary.reconstruction?.granularity === 'block' ? 'blocks' : '',
    summary.reconstruction?.dropQuantization ? `QDrop ${summary.reconstruction.dropQuantization}` : '',
    summary.synthesis?.tvWeight ? `TV ${summary.synthesis.tvWeight}` : '',
    summary.synthesis?.startingNoise === 'multiScale' ? 'multi-scale' : '',
    summary.workers === 2 ? '2 workers' : '',
    secondsPerIteration !== null && ownMinutes.has(file) ? 'measured minutes' : '',
  ].filter(Boolean);
  series.push({
    label: `${summary.method} W${summary.bits.replace('/', 'A')}${options.length ? ` (${options.join(', ')})` : ''}`,
    points,
    flat: summary.method === 'minmax',
  });
}
if (values.official) series.push({ label: 'official PyTorch code (issue 5)', points: OFFICIAL, flat: false });

// Taller for many series: each legend row beyond six adds two rows' height, so the
// curves keep their room above the legend.
const extraHeight = 44 * Math.max(0, series.length + 1 - 6);
const raster = new Raster(960, 560 + extraHeight);
const plot = { left: 80, top: 50, right: 940, bottom: 500 + extraHeight };
const curves = series.filter((s) => !s.flat);
const maxMinutes = Math.max(1, ...curves.flatMap((s) => s.points.map((p) => p[0])));
const percents = [...series.flatMap((s) => s.points.map((p) => p[1])), ...(fp === null ? [] : [100 * fp])];
const yMax = Math.ceil(Math.max(...percents) + 1);
// Room at the bottom for the legend (a row per series and the teacher): the lowest
// point stays above it, so no line hides behind the legend.
const legendShare = (22 * (series.length + (fp === null ? 0 : 1)) + 16) / (plot.bottom - plot.top);
const yMin = Math.floor((Math.min(...percents) - 1 - legendShare * yMax) / (1 - legendShare));
const xStep = niceStep(maxMinutes);
const xMax = Math.ceil(maxMinutes / xStep) * xStep;
const yStep = niceStep(yMax - yMin);
const px = (minutes: number) => plot.left + ((plot.right - plot.left) * minutes) / xMax;
const py = (percent: number) => plot.bottom - ((plot.bottom - plot.top) * (percent - yMin)) / (yMax - yMin);

raster.text(plot.left, 16, values.title, INK);
drawAxes(
  raster,
  plot,
  { from: 0, to: xMax, step: xStep, at: px, label: (x) => String(Number(x.toFixed(2))) },
  { from: yMin, to: yMax, step: yStep, at: py, label: (y) => `${Number(y.toFixed(1))}%` },
);
const xLabel =
  secondsPerIteration === null
    ? 'training minutes'
    : `training minutes, estimated at ${secondsPerIteration} s per iteration${ownMinutes.size > 0 ? ' unless measured' : ''}`;
raster.text((plot.left + plot.right) / 2 - Raster.textWidth(xLabel) / 2, plot.bottom + 34, xLabel, INK);

const legend: [string, Rgb][] = [];
if (fp !== null) {
  raster.line(plot.left, py(100 * fp), plot.right, py(100 * fp), GREY, 2, 8);
  legend.push([`FP teacher ${(100 * fp).toFixed(2)}%`, GREY]);
}
series.forEach((s, k) => {
  const color = COLORS[k % COLORS.length] as Rgb;
  legend.push([s.label, color]);
  if (s.flat) {
    const y = py((s.points[0] as [number, number])[1]);
    raster.line(plot.left, y, plot.right, y, color, 2, 8);
    return;
  }
  s.points.forEach(([m, p], i) => {
    const next = s.points[i + 1];
    if (next) raster.line(px(m), py(p), px(next[0]), py(next[1]), color, 3);
    raster.fillRect(px(m) - 4, py(p) - 4, 9, 9, color);
  });
});
const legendWidth = 40 + Math.max(...legend.map(([label]) => Raster.textWidth(label)));
// Bottom right, inside the plot: the curves of interest sit near the top.
const legendLeft = plot.right - legendWidth - 10;
raster.fillRect(
  legendLeft - 10,
  plot.bottom - 32 - 22 * (legend.length - 1),
  legendWidth,
  22 * legend.length + 6,
  [255, 255, 255],
);
legend.forEach(([label, color], k) => {
  const y = plot.bottom - 24 - 22 * (legend.length - 1 - k);
  raster.fillRect(legendLeft, y + 2, 22, 10, color);
  raster.text(legendLeft + 30, y, label, INK);
});
await writeFile(values.out, raster.toPng());
console.error(`plot: wrote ${values.out} (${series.length} series)`);
