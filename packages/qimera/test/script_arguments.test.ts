import { describe, expect, it } from 'vitest';
import { scriptArguments } from '../src/node.js';

describe('scriptArguments', () => {
  it('drops the runtime, the script and one leading -- that pnpm forwards', () => {
    expect(scriptArguments(['node', 'run.ts', '--', '--bits', '4/4'])).toEqual(['--bits', '4/4']);
    expect(scriptArguments(['node', 'run.ts', '--bits', '4/4'])).toEqual(['--bits', '4/4']);
    // A later -- keeps its meaning (what follows it is positional).
    expect(scriptArguments(['node', 'cli.js', 'eval', '--', '-model.json'])).toEqual(['eval', '--', '-model.json']);
    expect(scriptArguments(['node', 'run.ts'])).toEqual([]);
  });
});
