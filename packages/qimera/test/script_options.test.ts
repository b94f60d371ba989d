import { parseArgs } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  bitsOption,
  bitWidthOption,
  choiceOption,
  nonNegativeInteger,
  positiveInteger,
  positiveNumber,
  probabilityOption,
  rangeOption,
  readScriptOptions,
  rejectRepeatedOptions,
  UsageError,
  workersOption,
} from '../src/node.js';
import { attachNegativeValues } from '../src/script_options.js';

describe('bitWidthOption and rejectRepeatedOptions', () => {
  it('reads bit widths from 2 to 16 and names anything else', () => {
    expect(bitWidthOption('8', '--input-bits')).toBe(8);
    expect(bitWidthOption(undefined, '--input-bits')).toBeUndefined();
    for (const bad of ['1', '17', '4.5', 'x']) {
      expect(() => bitWidthOption(bad, '--input-bits')).toThrow(
        `--input-bits must be an integer from 2 to 16, got '${bad}'`,
      );
    }
  });

  it('refuses an option given twice, in either spelling', () => {
    const options = { bits: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;
    const tokens = (args: string[]) => parseArgs({ args, options, tokens: true }).tokens;
    expect(() => rejectRepeatedOptions(tokens(['--bits', '4/4', '-h']))).not.toThrow();
    expect(() => rejectRepeatedOptions(tokens(['--bits', '4/4', '--bits=3/3']))).toThrow(
      '--bits was given more than once; give it once',
    );
    expect(() => rejectRepeatedOptions(tokens(['-h', '--help']))).toThrow('--help was given more than once');
  });
});

describe('attachNegativeValues', () => {
  it('joins a value starting with a minus and a digit to the string option before it, and nothing else', () => {
    const options = ['bits', 'input-range'];
    expect(attachNegativeValues(['m.json', '--input-range', '-1,1', '--bits', '-4/4'], options)).toEqual([
      'm.json',
      '--input-range=-1,1',
      '--bits=-4/4',
    ]);
    expect(attachNegativeValues(['--input-range', '-.5,1'], options)).toEqual(['--input-range=-.5,1']);
    // Other options, flags that follow, and values already joined stay as they are.
    expect(attachNegativeValues(['--seed', '-3', '--bits', '--out', '--input-range=-1,1'], options)).toEqual([
      '--seed',
      '-3',
      '--bits',
      '--out',
      '--input-range=-1,1',
    ]);
  });
});

describe('rangeOption', () => {
  it('reads min,max', () => {
    expect(rangeOption('-0.4242,2.8215', '--input-range')).toEqual([-0.4242, 2.8215]);
    expect(rangeOption(' 0 , 1 ', '--input-range')).toEqual([0, 1]);
    expect(rangeOption(undefined, '--input-range')).toBeUndefined();
  });

  it.each(['1,0', '0,0', '0', '0,1,2', ',1', '0,Infinity', 'a,b'])('rejects %j naming the option', (value) => {
    expect(() => rangeOption(value, '--input-range')).toThrow(
      `--input-range must be min,max with finite numbers and min < max, got '${value}'`,
    );
  });
});

describe('number options', () => {
  it('read numbers, undefined when not given', () => {
    expect(positiveInteger('947', '--iterations')).toBe(947);
    expect(positiveNumber('2.5', '--minutes')).toBe(2.5);
    expect(positiveNumber('1e-4', '--lr')).toBe(1e-4);
    expect(nonNegativeInteger('0', '--warmup-epochs')).toBe(0);
    expect(positiveInteger(undefined, '--iterations')).toBeUndefined();
    expect(nonNegativeInteger(undefined, '--seed')).toBeUndefined();
    expect(probabilityOption('0', '--drop-quantization')).toBe(0);
    expect(probabilityOption('0.5', '--drop-quantization')).toBe(0.5);
    expect(probabilityOption('1', '--drop-quantization')).toBe(1);
    expect(probabilityOption(undefined, '--drop-quantization')).toBeUndefined();
  });

  it.each([
    [positiveInteger, '0', 'a positive integer'],
    [positiveInteger, '2.5', 'a positive integer'],
    [positiveInteger, 'ten', 'a positive integer'],
    [positiveNumber, '-1', 'a positive number'],
    [positiveNumber, 'Infinity', 'a positive number'],
    [positiveNumber, '1O', 'a positive number'],
    [nonNegativeInteger, '-1', 'a non-negative integer'],
    // Number('') is 0, which a non-negative option would otherwise accept.
    [nonNegativeInteger, '', 'a non-negative integer'],
    [nonNegativeInteger, ' ', 'a non-negative integer'],
    [probabilityOption, '1.5', 'a probability from 0 to 1'],
    [probabilityOption, '-0.1', 'a probability from 0 to 1'],
    [probabilityOption, 'NaN', 'a probability from 0 to 1'],
    [probabilityOption, '', 'a probability from 0 to 1'],
  ])('%o rejects %j with a UsageError naming the option', (read, value, what) => {
    expect(() => read(value, '--opt')).toThrow(UsageError);
    expect(() => read(value, '--opt')).toThrow(`--opt must be ${what}, got '${value}'`);
  });
});

describe('choiceOption', () => {
  it('returns an allowed value, undefined when not given', () => {
    expect(choiceOption('gdfq', '--method', ['qimera', 'gdfq', 'minmax'])).toBe('gdfq');
    expect(choiceOption(undefined, '--method', ['qimera', 'gdfq'])).toBeUndefined();
  });

  it('names the option and lists the allowed values', () => {
    expect(() => choiceOption('dfq', '--method', ['qimera', 'gdfq', 'minmax'])).toThrow(
      new UsageError("--method must be qimera, gdfq or minmax, got 'dfq'"),
    );
    expect(() => choiceOption('3', '--workers', ['1', '2'])).toThrow("--workers must be 1 or 2, got '3'");
    expect(() => choiceOption('x', '--only', ['on'])).toThrow("--only must be on, got 'x'");
  });
});

describe('workersOption', () => {
  it('reads 1 or 2 as a number, undefined when not given', () => {
    expect(workersOption('1')).toBe(1);
    expect(workersOption('2')).toBe(2);
    expect(workersOption(undefined)).toBeUndefined();
    expect(() => workersOption('3')).toThrow(new UsageError("--workers must be 1 or 2, got '3'"));
  });
});

describe('bitsOption', () => {
  it('reads W/A within the range, undefined when not given', () => {
    expect(bitsOption('4/5')).toEqual({ weightBits: 4, activationBits: 5 });
    expect(bitsOption('16/2')).toEqual({ weightBits: 16, activationBits: 2 });
    expect(bitsOption('8/8', { max: 8 })).toEqual({ weightBits: 8, activationBits: 8 });
    expect(bitsOption(undefined)).toBeUndefined();
  });

  it.each([['4'], ['4-4'], ['4/'], ['/4'], ['4/4/4'], ['a/4'], ['4.5/4'], ['1/4'], ['4/17'], [''], [' 4/4']])(
    "refuses '%s', naming the range",
    (value) => {
      expect(() => bitsOption(value)).toThrow(
        new UsageError(`--bits must be W/A with both from 2 to 16, got '${value}'`),
      );
    },
  );

  it('says why a narrower range is narrower', () => {
    expect(() => bitsOption('9/4', { max: 8, why: 'packed' })).toThrow(
      new UsageError("--bits must be W/A with both from 2 to 8 (packed), got '9/4'"),
    );
  });
});

describe('readScriptOptions', () => {
  afterEach(() => vi.restoreAllMocks());
  const exits = () => {
    const exit = vi.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Error(`exit ${code}`);
    });
    const error = vi.spyOn(console, 'error').mockImplementation(() => {});
    return { exit, error };
  };

  it('returns what the reader returns', () => {
    expect(readScriptOptions('demo', () => ({ iterations: 3 }))).toEqual({ iterations: 3 });
  });

  it('prints a usage mistake as one line and exits with 2', () => {
    const { exit, error } = exits();
    expect(() => readScriptOptions('demo', () => positiveInteger('ten', '--iterations'))).toThrow('exit 2');
    expect(exit).toHaveBeenCalledWith(2);
    expect(error).toHaveBeenCalledWith("demo: --iterations must be a positive integer, got 'ten'");
  });

  it("treats parseArgs's errors (unknown option) the same way", () => {
    const { error } = exits();
    const read = () => parseArgs({ args: ['--minute', '5'], options: { minutes: { type: 'string' } } });
    expect(() => readScriptOptions('bench', read)).toThrow('exit 2');
    expect(error.mock.calls[0]?.[0]).toMatch(/^bench: Unknown option '--minute'/);
  });

  it('lets other errors through', () => {
    const { exit } = exits();
    expect(() =>
      readScriptOptions('demo', () => {
        throw new RangeError('a bug');
      }),
    ).toThrow(RangeError);
    expect(exit).not.toHaveBeenCalled();
  });
});
