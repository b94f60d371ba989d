import { readdir } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { exportQuantized } from '@qimera/export';
import { loadLayersModelFromFile } from '@qimera/node-io';
import { SCHEDULE_PRESETS, type SchedulePreset } from '../defaults.js';
import { progressBar } from '../progress_bar.js';
import { DATA_FREE_METHODS, type DataFreeMethod, quantizeDataFree } from '../quantize_data_free.js';
import {
  type BitsOption,
  bitsOption,
  choiceOption,
  nonNegativeInteger,
  positiveInteger,
  positiveNumber,
  UsageError,
  workersOption,
} from '../script_options.js';
import { QUANTIZE_HELP } from './usage.js';

/** `qimera quantize`: prints what it did to `log`, progress to stderr. */
export async function quantizeCommand(args: string[], log: (line: string) => void): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      bits: { type: 'string' },
      out: { type: 'string' },
      method: { type: 'string', default: 'qimera' },
      preset: { type: 'string', default: 'paper' },
      minutes: { type: 'string' },
      iterations: { type: 'string' },
      'fold-bn': { type: 'boolean', default: false },
      'input-bits': { type: 'string' },
      batch: { type: 'string' },
      'warmup-epochs': { type: 'string' },
      'student-lr': { type: 'string' },
      workers: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      backend: { type: 'string', default: 'auto' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    log(QUANTIZE_HELP);
    return;
  }
  const [modelPath, ...extra] = positionals;
  if (!modelPath) throw new UsageError('quantize needs the model.json to quantize');
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  if (!values.bits) throw new UsageError('--bits is required, e.g. --bits 4/4');
  const { weightBits, activationBits } = bitsOption(values.bits, {
    max: 8,
    why: 'the export packs 2-8 bits',
  }) as BitsOption;
  if (!values.out) throw new UsageError('--out <dir> is required');
  const method = choiceOption(values.method, '--method', DATA_FREE_METHODS) as DataFreeMethod;
  const preset = choiceOption(values.preset, '--preset', SCHEDULE_PRESETS) as SchedulePreset;
  const minutes = positiveNumber(values.minutes, '--minutes');
  const iterations = positiveInteger(values.iterations, '--iterations');
  if (minutes !== undefined && iterations !== undefined)
    throw new UsageError('give --minutes or --iterations, not both');
  if (method !== 'minmax' && minutes === undefined && iterations === undefined) {
    throw new UsageError(`--method ${method} trains: give a budget, --minutes N or --iterations N`);
  }
  const workers = workersOption(values.workers) as 1 | 2;
  const inputBits = positiveInteger(values['input-bits'], '--input-bits');
  const batchSize = positiveInteger(values.batch, '--batch');
  const warmupEpochs = nonNegativeInteger(values['warmup-epochs'], '--warmup-epochs');
  const studentLearningRate = positiveNumber(values['student-lr'], '--student-lr');
  const seed = positiveInteger(values.seed, '--seed') as number;
  await assertFreshFolder(values.out);

  const teacher = await loadLayersModelFromFile(modelPath);
  const controller = new AbortController();
  const budgetMs = minutes === undefined ? undefined : minutes * 60_000;
  const bar = progressBar(`${method} W${weightBits}A${activationBits}`, budgetMs ? { timeBudgetMs: budgetMs } : {});
  const { model, report } = await quantizeDataFree(teacher, {
    method,
    preset,
    weightBits,
    activationBits,
    quantization: { foldBatchNorm: values['fold-bn'], ...(inputBits ? { inputBits } : {}) },
    iterations: iterations ?? 80_000,
    ...(batchSize ? { batchSize } : {}),
    ...(warmupEpochs !== undefined ? { warmupEpochs } : {}),
    ...(studentLearningRate ? { studentLearningRate } : {}),
    workers,
    seed,
    backend: values.backend,
    log: (line) => process.stderr.write(`${line}\n`),
    signal: controller.signal,
    onProgress: (p) => {
      bar(p);
      if (budgetMs !== undefined && p.elapsedMs >= budgetMs) controller.abort();
    },
  });
  const sizes = await exportQuantized(model, values.out);
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  log(
    `${method} W${weightBits}A${activationBits}${values['fold-bn'] ? ' (BN folded)' : ''}: ${report.iterations} iterations ` +
      `in ${(report.wallTimeMs / 1000).toFixed(0)} s on ${report.backend}`,
  );
  log(
    `wrote ${values.out}: weights ${kb(sizes.weightBytes)} (${sizes.kernelEncoding}), float32 ${kb(sizes.floatWeightBytes)}, ` +
      `${(100 * sizes.ratio).toFixed(1)}%`,
  );
}

/** Refuses an output folder that exists and holds files, before any work is done. */
async function assertFreshFolder(dir: string): Promise<void> {
  try {
    const entries = await readdir(dir);
    if (entries.length > 0) throw new UsageError(`--out ${dir} already exists and is not empty`);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new UsageError(`--out ${dir} exists and is not a folder`);
    if (code !== 'ENOENT') throw error;
  }
}
