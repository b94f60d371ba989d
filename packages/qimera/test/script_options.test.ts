import { describe, expect, it } from 'vitest';
import { nonNegativeInteger, positiveInteger, positiveNumber, UsageError } from '../src/node.js';

describe('number options', () => {
  it('read numbers, undefined when not given', () => {
    expect(positiveInteger('947', '--iterations')).toBe(947);
    expect(positiveNumber('2.5', '--minutes')).toBe(2.5);
    expect(positiveNumber('1e-4', '--lr')).toBe(1e-4);
    expect(nonNegativeInteger('0', '--warmup-epochs')).toBe(0);
    expect(positiveInteger(undefined, '--iterations')).toBeUndefined();
    expect(nonNegativeInteger(undefined, '--seed')).toBeUndefined();
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
  ])('%o rejects %j with a UsageError naming the option', (read, value, what) => {
    expect(() => read(value, '--opt')).toThrow(UsageError);
    expect(() => read(value, '--opt')).toThrow(`--opt must be ${what}, got '${value}'`);
  });
});
