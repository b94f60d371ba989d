import { UsageError } from 'qimera/node';
import { describe, expect, it } from 'vitest';
import { parseRunOptions } from '../src/options.js';

const parse = (...args: string[]) => parseRunOptions(args, '/data/shared');

describe('bench:cifar10 options', () => {
  it('defaults to Qimera W4A4 on the shared teacher and test set', () => {
    const options = parse('--iterations', '947');
    expect(options).toMatchObject({
      method: 'qimera',
      weightBits: 4,
      activationBits: 4,
      iterations: 947,
      minutes: undefined,
      preset: 'paper',
      batchSize: undefined,
      evalEvery: 400,
      evalImages: 10_000,
      mapping: true,
      realImages: false,
      start: 'calibrated',
      guard: 'off',
      guardEvery: 25,
      seed: 1,
      workers: 1,
      teacher: '/data/shared/models/resnet20-cifar10/model.json',
      data: '/data/shared/datasets/cifar-10-batches-bin',
    });
  });

  it('reads the schedule, with zero allowed where it means "none"', () => {
    const options = parse(
      ...['--bits', '5/5', '--minutes', '2.5', '--preset', 'short', '--batch', '64', '--warmup-epochs', '0'],
      ...['--superpose-after', '0', '--student-lr', '1e-3', '--student-schedule', 'cosine', '--mapping', 'off'],
      ...['--workers', '2', '--seed', '0', '--images', 'real', '--fold-bn', '--first-last-bits', '8'],
      ...['--start', 'minmax', '--guard', 'agreement', '--guard-every', '10', '--granularity', 'block'],
    );
    expect(options).toMatchObject({
      weightBits: 5,
      activationBits: 5,
      minutes: 2.5,
      preset: 'short',
      batchSize: 64,
      warmupEpochs: 0,
      superposeAfter: 0,
      studentLearningRate: 1e-3,
      studentLrSchedule: 'cosine',
      mapping: false,
      workers: 2,
      seed: 0,
      realImages: true,
      foldBatchNorm: true,
      firstLastBits: 8,
      start: 'minmax',
      guard: 'agreement',
      guardEvery: 10,
      granularity: 'block',
    });
    expect(parse('--method', 'mse').granularity).toBeUndefined();
    expect(parse('--method', 'adaround', '--images', 'real', '--minutes', '10')).toMatchObject({
      method: 'adaround',
      realImages: true,
    });
  });

  it("reads learned rounding's settings, leaving each to the library when not given", () => {
    const options = parse(
      ...['--method', 'adaround', '--minutes', '10', '--drop-quantization', '0.5'],
      ...['--reconstruction-images', '1024', '--reconstruction-steps', '3000', '--learn-steps', 'off'],
    );
    expect(options).toMatchObject({
      dropQuantization: 0.5,
      reconstructionImages: 1024,
      reconstructionSteps: 3000,
      learnSteps: false,
    });
    const defaults = parse('--method', 'mse');
    expect([
      defaults.dropQuantization,
      defaults.reconstructionImages,
      defaults.reconstructionSteps,
      defaults.learnSteps,
    ]).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('reads how images are synthesized, leaving each to the library when not given', () => {
    const options = parse(
      ...['--method', 'mse', '--input-range=-1.99,2.13', '--synthesis-steps', '200', '--bns-weight', '10'],
      ...['--calibration-images', '128', '--synthesis-jitter', '2', '--synthesis-flip', '--synthesis-tv', '10'],
      ...['--synthesis-noise', 'multiScale'],
    );
    expect(options).toMatchObject({
      inputRange: [-1.99, 2.13],
      synthesisSteps: 200,
      bnsWeight: 10,
      calibrationImages: 128,
      synthesisJitter: 2,
      synthesisFlip: true,
      synthesisTv: 10,
      synthesisNoise: 'multiScale',
    });
    const defaults = parse('--method', 'mse');
    expect(defaults).toMatchObject({
      synthesisJitter: undefined,
      synthesisFlip: false,
      synthesisTv: undefined,
      synthesisNoise: undefined,
    });
    expect([defaults.inputRange, defaults.synthesisSteps, defaults.bnsWeight, defaults.calibrationImages]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });

  it('minmax and mse need no budget; training methods do', () => {
    expect(parse('--method', 'minmax').iterations).toBeUndefined();
    expect(parse('--method', 'mse').iterations).toBeUndefined();
    expect(() => parse('--method', 'gdfq')).toThrow('give a budget: --minutes N or --iterations N');
  });

  it.each([
    // A mistyped budget would otherwise run the paper's 80,000 iterations.
    [['--minutes', '6O'], "--minutes must be a positive number, got '6O'"],
    [['--minutes', ''], "--minutes must be a positive number, got ''"],
    [['--iterations', '947.5'], "--iterations must be a positive integer, got '947.5'"],
    // A zero or non-numeric interval would never evaluate.
    [['--iterations', '9', '--eval-every', '0'], "--eval-every must be a positive integer, got '0'"],
    [
      ['--iterations', '9', '--eval-images', '20000'],
      '--eval-images must be at most 10000 (the test batch), got 20000',
    ],
    [['--iterations', '9', '--warmup-epochs=-1'], "--warmup-epochs must be a non-negative integer, got '-1'"],
    [['--iterations', '9', '--student-lr', 'fast'], "--student-lr must be a positive number, got 'fast'"],
    [['--iterations', '9', '--seed', 'x'], "--seed must be a non-negative integer, got 'x'"],
    [['--iterations', '9', '--synthesis-noise', 'pink'], "--synthesis-noise must be white or multiScale, got 'pink'"],
    [['--iterations', '9', '--bits', '4-4'], "--bits must be W/A with both from 2 to 16, got '4-4'"],
    [['--iterations', '9', '--bits', '1/4'], "--bits must be W/A with both from 2 to 16, got '1/4'"],
    [['--iterations', '9', '--method', 'zeroq'], "--method must be qimera, gdfq, adaround, mse or minmax, got 'zeroq'"],
    [['--iterations', '9', '--workers', '4'], "--workers must be 1 or 2, got '4'"],
    [['--iterations', '9', '--preset', 'long'], "--preset must be paper or short, got 'long'"],
    [['--iterations', '9', '--student-schedule', 'linear'], "--student-schedule must be step or cosine, got 'linear'"],
    [
      ['--method', 'minmax', '--images', 'real'],
      '--images real trains the student or learns its rounding: use it with --method qimera, gdfq or adaround',
    ],
    [['--iterations', '9', '--guard', 'best'], "--guard must be kl, agreement or off, got 'best'"],
    [['--iterations', '9', '--start', 'zero'], "--start must be calibrated or minmax, got 'zero'"],
    [['--method', 'mse', '--granularity', 'stage'], "--granularity must be layer or block, got 'stage'"],
    [
      ['--method', 'mse', '--input-range=2,1'],
      "--input-range must be min,max with finite numbers and min < max, got '2,1'",
    ],
    [['--method', 'mse', '--synthesis-steps', '0'], "--synthesis-steps must be a positive integer, got '0'"],
    [['--method', 'mse', '--bns-weight', '0'], "--bns-weight must be a positive number, got '0'"],
    [['--method', 'mse', '--synthesis-jitter', '1.5'], "--synthesis-jitter must be a non-negative integer, got '1.5'"],
    [['--method', 'mse', '--calibration-images', '6.5'], "--calibration-images must be a positive integer, got '6.5'"],
    [
      ['--method', 'mse', '--drop-quantization', '1.5'],
      "--drop-quantization must be a probability from 0 to 1, got '1.5'",
    ],
    [
      ['--method', 'mse', '--reconstruction-images', '0'],
      "--reconstruction-images must be a positive integer, got '0'",
    ],
    [
      ['--method', 'mse', '--reconstruction-steps', 'many'],
      "--reconstruction-steps must be a positive integer, got 'many'",
    ],
  ])('rejects %j naming the option', (args, message) => {
    expect(() => parse(...args)).toThrow(UsageError);
    expect(() => parse(...args)).toThrow(message);
  });

  it('rejects unknown options (parseArgs)', () => {
    expect(() => parse('--iterations', '9', '--minute', '5')).toThrow(/--minute/);
  });
});
