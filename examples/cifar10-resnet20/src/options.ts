// The command line of `bench:cifar10` (run.ts), read and checked before anything loads,
// so a mistyped budget fails at once instead of running for hours.
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  DATA_FREE_METHODS,
  type DataFreeMethod,
  GUARD_CRITERIA,
  type GuardCriterion,
  RECONSTRUCTION_GRANULARITIES,
  type ReconstructionGranularity,
  SCHEDULE_PRESETS,
  type SchedulePreset,
  STARTING_NOISES,
  STARTING_POINTS,
  STUDENT_LR_SCHEDULES,
  type StartingNoise,
  type StartingPoint,
  type StudentLrSchedule,
} from 'qimera';
import {
  type BitsOption,
  bitsOption,
  bitWidthOption,
  choiceOption,
  nonNegativeInteger,
  positiveInteger,
  positiveNumber,
  probabilityOption,
  rangeOption,
  UsageError,
  workersOption,
} from 'qimera/node';

/** What run.ts was asked to do; schedule values left undefined take the preset's. */
export interface RunOptions {
  method: DataFreeMethod;
  /** As given, e.g. '4/4' (it names the output and the summary). */
  bits: string;
  weightBits: number;
  activationBits: number;
  /** Training budget: stop after this many minutes of training (checkpoints not counted). */
  minutes?: number;
  iterations?: number;
  preset: SchedulePreset;
  batchSize?: number;
  warmupEpochs?: number;
  iterationsPerEpoch?: number;
  studentLearningRate?: number;
  studentLrSchedule?: StudentLrSchedule;
  superposeAfter?: number;
  evalEvery: number;
  evalImages: number;
  mapping: boolean;
  foldBatchNorm: boolean;
  /** Bits of the first and last layers and the activations next to them (undefined: the run's bits). */
  firstLastBits?: number;
  /**
   * The upper reference: distil (qimera, gdfq) or calibrate and learn the rounding
   * (adaround) on data_batch_1 images instead of generated or synthesized ones.
   */
  realImages: boolean;
  /** The training methods' starting point. */
  start: StartingPoint;
  /** How the returned state is chosen ('off': the last one). */
  guard: GuardCriterion | 'off';
  /** Training iterations between fidelity checks. */
  guardEvery: number;
  /** 'adaround': learn the step sizes of the activation quantizers with the roundings (library default when undefined). */
  learnSteps?: boolean;
  /** 'adaround': learn the rounding layer by layer or block by block (library default when undefined). */
  granularity?: ReconstructionGranularity;
  /** The teacher's input range: synthesized images stay in it (library default, unbounded, when undefined). */
  inputRange?: [number, number];
  /** Synthesis steps per image batch (library default when undefined). */
  synthesisSteps?: number;
  /** Weight of the BN-statistics loss in synthesis (library default when undefined). */
  bnsWeight?: number;
  /** Weight of the smoothness prior in synthesis (library default, none, when undefined). */
  synthesisTv?: number;
  /** The noise synthesized images start from (library default, white, when undefined). */
  synthesisNoise?: StartingNoise;
  /** Random translation in synthesis, in pixels (library default, none, when undefined). */
  synthesisJitter?: number;
  /** Random left-right mirroring in synthesis. */
  synthesisFlip: boolean;
  /** Synthesized calibration images (library default when undefined). */
  calibrationImages?: number;
  /** 'adaround': QDrop's probability of keeping an input element in float while fitting (library default when undefined). */
  dropQuantization?: number;
  /** 'adaround': images synthesized for learned rounding (library default when undefined). */
  reconstructionImages?: number;
  /** 'adaround': optimisation steps per layer or block, at most (library default when undefined). */
  reconstructionSteps?: number;
  seed: number;
  backend: string;
  workers: 1 | 2;
  teacher: string;
  data: string;
  out: string;
}

/**
 * Reads run.ts's arguments; `shared` is the folder whose model and dataset are the defaults.
 * @throws UsageError naming the option and what it allows.
 */
export function parseRunOptions(args: string[], shared: string): RunOptions {
  const { values } = parseArgs({
    args,
    options: {
      method: { type: 'string', default: 'qimera' },
      bits: { type: 'string', default: '4/4' },
      minutes: { type: 'string' },
      iterations: { type: 'string' },
      preset: { type: 'string', default: 'paper' },
      batch: { type: 'string' },
      'eval-every': { type: 'string', default: '400' },
      'eval-images': { type: 'string', default: '10000' },
      mapping: { type: 'string', default: 'on' },
      'fold-bn': { type: 'boolean', default: false },
      'first-last-bits': { type: 'string' },
      images: { type: 'string', default: 'generated' },
      start: { type: 'string', default: 'calibrated' },
      guard: { type: 'string', default: 'off' },
      'guard-every': { type: 'string', default: '25' },
      'learn-steps': { type: 'string' },
      granularity: { type: 'string' },
      'drop-quantization': { type: 'string' },
      'reconstruction-images': { type: 'string' },
      'reconstruction-steps': { type: 'string' },
      'input-range': { type: 'string' },
      'synthesis-steps': { type: 'string' },
      'bns-weight': { type: 'string' },
      'synthesis-tv': { type: 'string' },
      'synthesis-noise': { type: 'string' },
      'synthesis-jitter': { type: 'string' },
      'synthesis-flip': { type: 'boolean', default: false },
      'calibration-images': { type: 'string' },
      'warmup-epochs': { type: 'string' },
      'iterations-per-epoch': { type: 'string' },
      'student-lr': { type: 'string' },
      'student-schedule': { type: 'string' },
      'superpose-after': { type: 'string' },
      seed: { type: 'string', default: '1' },
      backend: { type: 'string', default: 'auto' },
      workers: { type: 'string', default: '1' },
      teacher: { type: 'string', default: join(shared, 'models/resnet20-cifar10/model.json') },
      data: { type: 'string', default: join(shared, 'datasets/cifar-10-batches-bin') },
      out: { type: 'string', default: 'runs' },
    },
  });
  const method = choiceOption(values.method, '--method', DATA_FREE_METHODS) as DataFreeMethod;
  const { weightBits, activationBits } = bitsOption(values.bits) as BitsOption;
  const mapping = choiceOption(values.mapping, '--mapping', ['on', 'off']);
  const images = choiceOption(values.images, '--images', ['generated', 'real']);
  const preset = choiceOption(values.preset, '--preset', SCHEDULE_PRESETS) as SchedulePreset;
  const studentLrSchedule = choiceOption(values['student-schedule'], '--student-schedule', STUDENT_LR_SCHEDULES);
  const realImages = images === 'real';
  const start = choiceOption(values.start, '--start', STARTING_POINTS) as StartingPoint;
  const guard = choiceOption(values.guard, '--guard', [...GUARD_CRITERIA, 'off'] as const) as GuardCriterion | 'off';
  if (realImages && (method === 'minmax' || method === 'mse'))
    throw new UsageError(
      '--images real trains the student or learns its rounding: use it with --method qimera, gdfq or adaround',
    );
  const minutes = positiveNumber(values.minutes, '--minutes');
  const iterations = positiveInteger(values.iterations, '--iterations');
  if (minutes === undefined && iterations === undefined && method !== 'minmax' && method !== 'mse')
    throw new UsageError('give a budget: --minutes N or --iterations N');
  const evalImages = positiveInteger(values['eval-images'], '--eval-images') as number;
  const learnSteps = choiceOption(values['learn-steps'], '--learn-steps', ['on', 'off']);
  const granularity = choiceOption(values.granularity, '--granularity', RECONSTRUCTION_GRANULARITIES);
  const dropQuantization = probabilityOption(values['drop-quantization'], '--drop-quantization');
  if (evalImages > 10_000)
    throw new UsageError(`--eval-images must be at most 10000 (the test batch), got ${evalImages}`);
  return {
    method,
    bits: values.bits,
    weightBits,
    activationBits,
    minutes,
    iterations,
    preset,
    batchSize: positiveInteger(values.batch, '--batch'),
    warmupEpochs: nonNegativeInteger(values['warmup-epochs'], '--warmup-epochs'),
    iterationsPerEpoch: positiveInteger(values['iterations-per-epoch'], '--iterations-per-epoch'),
    studentLearningRate: positiveNumber(values['student-lr'], '--student-lr'),
    studentLrSchedule,
    superposeAfter: nonNegativeInteger(values['superpose-after'], '--superpose-after'),
    evalEvery: positiveInteger(values['eval-every'], '--eval-every') as number,
    evalImages,
    mapping: mapping === 'on',
    foldBatchNorm: values['fold-bn'],
    firstLastBits: bitWidthOption(values['first-last-bits'], '--first-last-bits'),
    realImages,
    start,
    guard,
    guardEvery: positiveInteger(values['guard-every'], '--guard-every') as number,
    learnSteps: learnSteps === undefined ? undefined : learnSteps === 'on',
    granularity,
    dropQuantization,
    reconstructionImages: positiveInteger(values['reconstruction-images'], '--reconstruction-images'),
    reconstructionSteps: positiveInteger(values['reconstruction-steps'], '--reconstruction-steps'),
    inputRange: rangeOption(values['input-range'], '--input-range'),
    synthesisSteps: positiveInteger(values['synthesis-steps'], '--synthesis-steps'),
    bnsWeight: positiveNumber(values['bns-weight'], '--bns-weight'),
    synthesisTv: positiveNumber(values['synthesis-tv'], '--synthesis-tv'),
    synthesisNoise: choiceOption(values['synthesis-noise'], '--synthesis-noise', STARTING_NOISES),
    synthesisJitter: nonNegativeInteger(values['synthesis-jitter'], '--synthesis-jitter'),
    synthesisFlip: values['synthesis-flip'],
    calibrationImages: positiveInteger(values['calibration-images'], '--calibration-images'),
    seed: nonNegativeInteger(values.seed, '--seed') as number,
    backend: values.backend,
    workers: workersOption(values.workers) as 1 | 2,
    teacher: values.teacher,
    data: values.data,
    out: values.out,
  };
}
