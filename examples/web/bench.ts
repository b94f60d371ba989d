// The page's speed in Debian's Chromium against Node's wasm, for the same quantization
// (the bundled MNIST teacher, 'qimera' W4A4 from the calibrated start, seed 1, an
// iteration budget): training images per second and wall time, one JSON line per run,
// then a table. Run: pnpm --filter @qimera/example-web bench [-- --iterations 60 --backends wasm,wasm-1,webgl]
import '@tensorflow/tfjs-backend-wasm';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type DataFreeProgress, quantizeDataFree, useFastestBackend } from 'qimera';
import { loadLayersModelFromFile, positiveInteger, readScriptOptions, scriptArguments } from 'qimera/node';
import { launchChromium, type PageRun, runInPage, SHORT_QIMERA_RUN, servePage } from './harness.js';
import { dataFreeOptions, type RunSettings } from './src/run_settings.js';
import { trainingImagesPerSecond } from './src/speed.js';

/**
 * Where each run happens: the page on a backend (wasm-1: without threads), or Node's wasm
 * on one thread as the page's worker runs (node) or with two workers as the CLI (node-2).
 */
const TARGETS = ['node', 'node-2', 'wasm', 'wasm-1', 'webgl'] as const;
type Target = (typeof TARGETS)[number];

const { iterations, targets } = readScriptOptions('bench', () => {
  const { values } = parseArgs({
    args: scriptArguments(),
    options: {
      iterations: { type: 'string', default: '60' },
      targets: { type: 'string', default: TARGETS.join(',') },
    },
  });
  const targets = (values.targets as string).split(',') as Target[];
  for (const target of targets) {
    if (!TARGETS.includes(target)) throw new Error(`--targets: '${target}' is not one of ${TARGETS.join(', ')}`);
  }
  return { iterations: positiveInteger(values.iterations, '--iterations') as number, targets };
});
const settings: RunSettings = { ...SHORT_QIMERA_RUN, iterations };

const rows: { target: Target; imagesPerSecond: number | null; seconds: number }[] = [];
const served = targets.some((t) => !t.startsWith('node')) ? await servePage() : null;
const browser = served ? await launchChromium() : null;
try {
  for (const target of targets) {
    const started = Date.now();
    const imagesPerSecond =
      target === 'node' || target === 'node-2' ? await inNode(target === 'node' ? 1 : 2) : await inPage(target);
    const row = { target, imagesPerSecond, seconds: (Date.now() - started) / 1000 };
    rows.push(row);
    console.log(JSON.stringify({ ...row, iterations, method: settings.method }));
  }
} finally {
  await browser?.close();
  await served?.close();
}
console.log('\n| where | training images/s | wall time |\n|---|---|---|');
for (const row of rows) {
  console.log(`| ${row.target} | ${row.imagesPerSecond?.toFixed(1) ?? 'n/a'} | ${row.seconds.toFixed(0)} s |`);
}

async function inPage(target: Exclude<Target, 'node' | 'node-2'>): Promise<number | null> {
  const page = await (browser as NonNullable<typeof browser>).newPage();
  await page.goto((served as NonNullable<typeof served>).url);
  const run: PageRun = { settings, backend: target === 'webgl' ? 'webgl' : 'wasm', threads: target === 'wasm' };
  const outcome = await runInPage(page, run, 3_600_000);
  await page.close();
  return outcome.imagesPerSecond;
}

async function inNode(workers: 1 | 2): Promise<number | null> {
  await useFastestBackend({ prefer: 'wasm' });
  const teacher = await loadLayersModelFromFile(
    fileURLToPath(new URL('../mnist/fixtures/teacher/model.json', import.meta.url)),
  );
  let last: DataFreeProgress | null = null;
  const { model, report } = await quantizeDataFree(teacher, {
    ...dataFreeOptions(settings),
    workers,
    onProgress: (progress) => {
      last = progress;
    },
  });
  model.dispose();
  teacher.dispose();
  return trainingImagesPerSecond(last, report.settings.batchSize as number);
}
