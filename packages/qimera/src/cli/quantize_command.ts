import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { type Fidelity, GUARD_CRITERIA, STARTING_NOISES, TrainingDivergedError } from '@qimera/distill';
import { exportQuantized } from '@qimera/export';
import { checkSaveFolder, loadLayersModelFromFile, ModelFileError } from '@qimera/node-io';
import { RECONSTRUCTION_GRANULARITIES } from '@qimera/quantizers';
import { checkCheckpointFolder, checkpointFolder, loadCheckpoint } from '../checkpoint_folder.js';
import { SCHEDULE_PRESETS, type SchedulePreset } from '../defaults.js';
import { progressBar } from '../progress_bar.js';
import {
  DATA_FREE_METHODS,
  type DataFreeMethod,
  DEFAULT_BUDGET_MINUTES,
  quantizeDataFree,
  STARTING_POINTS,
  type StartingPoint,
} from '../quantize_data_free.js';
import {
  attachNegativeValues,
  type BitsOption,
  bitsOption,
  bitWidthOption,
  choiceOption,
  nonNegativeInteger,
  positiveInteger,
  positiveNumber,
  probabilityOption,
  rangeOption,
  rejectRepeatedOptions,
  UsageError,
  workersOption,
} from '../script_options.js';
import { useBackendOption } from './backend_option.js';
import { abortOnInterrupt, INTERRUPTED_EXIT_CODE, type SignalTarget } from './interrupt.js';
import { QUANTIZE_HELP } from './usage.js';

/**
 * `qimera quantize`: prints what it did to `log`, progress to stderr. SIGINT / SIGTERM
 * (on `signals`, the process by default) stop the run and write what it has.
 * @returns the exit code: 0, or {@link INTERRUPTED_EXIT_CODE} when a signal stopped the run.
 */
export async function quantizeCommand(
  args: string[],
  log: (line: string) => void,
  signals: SignalTarget = process,
): Promise<number> {
  const { values, positionals, tokens } = parseArgs({
    args: attachNegativeValues(args, ['bits', 'input-range']),
    allowPositionals: true,
    tokens: true,
    options: {
      bits: { type: 'string' },
      out: { type: 'string' },
      force: { type: 'boolean', default: false },
      checkpoint: { type: 'string' },
      'checkpoint-every': { type: 'string' },
      resume: { type: 'string' },
      method: { type: 'string', default: 'qimera' },
      preset: { type: 'string', default: 'short' },
      start: { type: 'string', default: 'calibrated' },
      guard: { type: 'string', default: 'off' },
      minutes: { type: 'string' },
      iterations: { type: 'string' },
      'fold-bn': { type: 'boolean', default: false },
      'input-bits': { type: 'string' },
      'first-last-bits': { type: 'string' },
      batch: { type: 'string' },
      'warmup-epochs': { type: 'string' },
      'student-lr': { type: 'string' },
      'memory-limit': { type: 'string' },
      'input-range': { type: 'string' },
      'synthesis-steps': { type: 'string' },
      'synthesis-jitter': { type: 'string' },
      'synthesis-flip': { type: 'boolean', default: false },
      'bns-weight': { type: 'string' },
      'synthesis-tv': { type: 'string' },
      'synthesis-noise': { type: 'string' },
      granularity: { type: 'string' },
      'drop-quantization': { type: 'string' },
      workers: { type: 'string' },
      seed: { type: 'string', default: '1' },
      backend: { type: 'string', default: 'auto' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    log(QUANTIZE_HELP);
    return 0;
  }
  rejectRepeatedOptions(tokens);
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
  const start = choiceOption(values.start, '--start', STARTING_POINTS) as StartingPoint;
  const guard = choiceOption(values.guard, '--guard', [...GUARD_CRITERIA, 'off'] as const);
  const minutes = positiveNumber(values.minutes, '--minutes');
  const iterations = positiveInteger(values.iterations, '--iterations');
  if (minutes !== undefined && iterations !== undefined)
    throw new UsageError('give --minutes or --iterations, not both');
  // Both cores where there are two: training splits each batch over two threads.
  const workers = workersOption(values.workers) ?? (availableParallelism() >= 2 ? 2 : 1);
  const inputBits = bitWidthOption(values['input-bits'], '--input-bits');
  const firstLastBits = bitWidthOption(values['first-last-bits'], '--first-last-bits');
  const batchSize = positiveInteger(values.batch, '--batch');
  const warmupEpochs = nonNegativeInteger(values['warmup-epochs'], '--warmup-epochs');
  const studentLearningRate = positiveNumber(values['student-lr'], '--student-lr');
  const memoryLimitMB = positiveNumber(values['memory-limit'], '--memory-limit');
  const inputRange = rangeOption(values['input-range'], '--input-range');
  const synthesisSteps = positiveInteger(values['synthesis-steps'], '--synthesis-steps');
  const synthesisJitter = nonNegativeInteger(values['synthesis-jitter'], '--synthesis-jitter');
  const synthesisBnsWeight = positiveNumber(values['bns-weight'], '--bns-weight');
  const synthesisTvWeight = positiveNumber(values['synthesis-tv'], '--synthesis-tv');
  const synthesisStartingNoise = choiceOption(values['synthesis-noise'], '--synthesis-noise', STARTING_NOISES);
  const granularity = choiceOption(values.granularity, '--granularity', RECONSTRUCTION_GRANULARITIES);
  const dropQuantization = probabilityOption(values['drop-quantization'], '--drop-quantization');
  if ((granularity !== undefined || dropQuantization !== undefined) && method !== 'adaround') {
    const option = granularity !== undefined ? '--granularity' : '--drop-quantization';
    throw new UsageError(`${option} goes with --method adaround, not ${method}`);
  }
  const seed = positiveInteger(values.seed, '--seed') as number;
  const overwrite = values.force;
  await checkFolderOption(
    `--out ${values.out}`,
    checkSaveFolder(values.out, { overwrite, overwriteOption: '--force' }),
  );
  const checkpointEvery = positiveNumber(values['checkpoint-every'], '--checkpoint-every');
  const checkpointDir = values.checkpoint ?? values.resume;
  if ((checkpointDir || checkpointEvery) && method !== 'qimera' && method !== 'gdfq') {
    throw new UsageError(`--checkpoint and --resume go with --method qimera or gdfq, not ${method}`);
  }
  if (checkpointEvery && !values.checkpoint) throw new UsageError('--checkpoint-every goes with --checkpoint <dir>');
  if (checkpointDir) {
    await checkFolderOption(`checkpoint folder ${checkpointDir}`, checkCheckpointFolder(checkpointDir));
  }
  const resumeFrom = values.resume ? await loadCheckpoint(values.resume) : undefined;
  await useBackendOption(values.backend);

  const teacher = await loadLayersModelFromFile(modelPath);
  const budgetMinutes = iterations === undefined ? (minutes ?? DEFAULT_BUDGET_MINUTES) : undefined;
  const bar = progressBar(
    `${method} W${weightBits}A${activationBits}`,
    budgetMinutes ? { timeBudgetMs: budgetMinutes * 60_000 } : {},
  );
  const out = values.out;
  const interrupt = new AbortController();
  const release = abortOnInterrupt(interrupt, (line) => process.stderr.write(`\n${line}\n`), signals);
  try {
    const { model, report } = await quantizeDataFree(teacher, {
      method,
      preset,
      start,
      guard,
      weightBits,
      activationBits,
      quantization: {
        foldBatchNorm: values['fold-bn'],
        ...(inputBits ? { inputBits } : {}),
        ...(firstLastBits ? { firstLastBits } : {}),
      },
      ...(budgetMinutes ? { minutes: budgetMinutes } : { iterations }),
      ...(batchSize ? { batchSize } : {}),
      ...(warmupEpochs !== undefined ? { warmupEpochs } : {}),
      ...(studentLearningRate ? { studentLearningRate } : {}),
      ...(memoryLimitMB ? { memoryLimitMB } : {}),
      ...(inputRange ? { inputRange } : {}),
      ...(synthesisSteps ? { synthesisSteps } : {}),
      ...(synthesisJitter !== undefined ? { synthesisJitter } : {}),
      ...(values['synthesis-flip'] ? { synthesisFlip: true } : {}),
      ...(synthesisBnsWeight ? { synthesisBnsWeight } : {}),
      ...(synthesisTvWeight ? { synthesisTvWeight } : {}),
      ...(synthesisStartingNoise ? { synthesisStartingNoise } : {}),
      reconstruction: {
        ...(granularity ? { granularity } : {}),
        ...(dropQuantization !== undefined ? { dropQuantization } : {}),
      },
      ...(checkpointDir ? { checkpoint: checkpointFolder(checkpointDir, { everyMinutes: checkpointEvery ?? 2 }) } : {}),
      ...(resumeFrom ? { resumeFrom } : {}),
      workers,
      seed,
      backend: 'current',
      warn: (line) => process.stderr.write(`warning: ${line}\n`),
      onProgress: bar,
      signal: interrupt.signal,
    }).catch(async (error: unknown) => {
      // A diverged run still leaves its last good student: write it, then fail.
      if (!(error instanceof TrainingDivergedError && error.student)) throw error;
      try {
        await exportQuantized(error.student, out, { overwrite });
      } finally {
        error.student.dispose();
      }
      throw new Error(`${error.message}; wrote that student to ${out}`);
    });
    const sizes = await exportQuantized(model, out, { overwrite });
    const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
    log(
      `${method} W${weightBits}A${activationBits}${values['fold-bn'] ? ' (BN folded)' : ''}: ${report.iterations} iterations ` +
        `in ${(report.wallTimeMs / 1000).toFixed(0)} s on ${report.backend}`,
    );
    const rounding = report.start?.reconstruction;
    if (rounding) {
      const kept = rounding.layers.filter((unit) => unit.kept).length;
      log(
        `learned rounding on ${report.start?.reconstructionImages} synthesized images: kept for ${kept} of ` +
          `${rounding.layers.length} ${granularity === 'block' ? 'blocks' : 'layers'}` +
          (rounding.skipped.length > 0
            ? `; ${rounding.skipped.length} layers not learned (${[...new Set(rounding.skipped.map((s) => s.reason))].join('; ')})`
            : ''),
      );
    }
    if (report.fidelity) {
      const { start: first, returned, returnedIteration } = report.fidelity;
      const describe = (f: Fidelity) =>
        `top-1 agreement ${(100 * f.all.agreement).toFixed(1)}%, KL ${f.all.kl.toFixed(4)}`;
      log(`fidelity to the teacher (synthesized images): start ${describe(first)}`);
      log(`  returned (iteration ${returnedIteration}): ${describe(returned)}`);
    }
    log(
      `wrote ${out}: weights ${kb(sizes.weightBytes)} (${sizes.kernelEncoding}), float32 ${kb(sizes.floatWeightBytes)}, ` +
        `${(100 * sizes.ratio).toFixed(1)}%`,
    );
    if (resumeFrom) log(`resumed from ${values.resume} at iteration ${resumeFrom.iteration}`);
    if (!interrupt.signal.aborted) return 0;
    log(`interrupted: the model written is the student as it stood after ${report.iterations} iterations`);
    if (checkpointDir) log(`its training state is in ${checkpointDir}: continue with --resume ${checkpointDir}`);
    return INTERRUPTED_EXIT_CODE;
  } finally {
    release();
  }
}

/**
 * Runs a folder check before any work is done; its refusal (a ModelFileError) becomes a
 * usage error naming the option and the folder: `--out` must not hold files or
 * leftovers without --force, a checkpoint folder only a checkpoint; both writable.
 */
async function checkFolderOption(label: string, check: Promise<void>): Promise<void> {
  try {
    await check;
  } catch (error) {
    if (!(error instanceof ModelFileError)) throw error;
    throw new UsageError(`${label} ${error.problem}`);
  }
}
