import { EventEmitter } from 'node:events';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import '../../../test-support/backend.js';
import { loadQuantizedModel } from '@qimera/export';
import * as tf from '@tensorflow/tfjs-core';
import { abortOnInterrupt, INTERRUPTED_EXIT_CODE } from '../src/cli/interrupt.js';
import { quantizeCommand } from '../src/cli/quantize_command.js';

/** A stand-in for `process`: emits signals on demand and records exits. */
function fakeProcess() {
  const emitter = new EventEmitter();
  const exits: number[] = [];
  return {
    target: {
      on: (event: string, listener: (signal: string) => void) => emitter.on(event, listener),
      off: (event: string, listener: (signal: string) => void) => emitter.off(event, listener),
      exit: (code: number) => {
        exits.push(code);
      },
    },
    send: (signal: string) => emitter.emit(signal, signal),
    listeners: () => emitter.listenerCount('SIGINT') + emitter.listenerCount('SIGTERM'),
    exits,
  };
}

describe('abortOnInterrupt', () => {
  it('aborts on the first SIGINT and exits 130 on the second, saying so each time', () => {
    const fake = fakeProcess();
    const controller = new AbortController();
    const said: string[] = [];
    const release = abortOnInterrupt(controller, (line) => said.push(line), fake.target);
    fake.send('SIGINT');
    expect(controller.signal.aborted).toBe(true);
    expect(fake.exits).toEqual([]);
    expect(said[0]).toMatch(/^SIGINT: stopping after the current step; the result so far will be written/);
    fake.send('SIGINT');
    expect(fake.exits).toEqual([INTERRUPTED_EXIT_CODE]);
    expect(said[1]).toBe('SIGINT again: quitting at once');
    release();
    expect(fake.listeners()).toBe(0);
  });

  it('treats SIGTERM as SIGINT and does nothing once released', () => {
    const fake = fakeProcess();
    const controller = new AbortController();
    const release = abortOnInterrupt(controller, () => {}, fake.target);
    expect(fake.listeners()).toBe(2);
    release();
    fake.send('SIGTERM');
    expect(controller.signal.aborted).toBe(false);
    const again = new AbortController();
    abortOnInterrupt(again, () => {}, fake.target);
    fake.send('SIGTERM');
    expect(again.signal.aborted).toBe(true);
  });
});

describe('qimera quantize, interrupted', () => {
  it('writes the student it has and exits 130 when SIGINT stops the run', async () => {
    const teacher = fileURLToPath(new URL('../../../examples/mnist/fixtures/teacher/model.json', import.meta.url));
    const out = join(mkdtempSync(join(tmpdir(), 'qimera-interrupt-')), 'w4a4');
    const fake = fakeProcess();
    const lines: string[] = [];
    // A 5-minute run, interrupted after 2 seconds (wherever it is by then).
    const timer = setTimeout(() => fake.send('SIGINT'), 2000);
    const args = ['--bits', '4/4', '--minutes', '5', '--workers', '1', '--backend', 'cpu', '--out', out];
    const code = await quantizeCommand([teacher, ...args], (line) => lines.push(line), fake.target);
    clearTimeout(timer);
    expect(code).toBe(INTERRUPTED_EXIT_CODE);
    expect(lines.join('\n')).toMatch(/interrupted: the model written is the student as it stood after \d+ iterations/);
    expect(readdirSync(out).sort()).toEqual(['model.json', 'weights.bin']);
    const model = await loadQuantizedModel(join(out, 'model.json'));
    const logits = model.predict(tf.zeros([2, 28, 28, 1])) as tf.Tensor;
    expect(Array.from(logits.dataSync()).every(Number.isFinite)).toBe(true);
    expect(fake.listeners()).toBe(0);
  });

  it('leaves a checkpoint that --resume continues from', async () => {
    const teacher = fileURLToPath(new URL('../../../examples/mnist/fixtures/teacher/model.json', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'qimera-resume-'));
    const state = join(dir, 'state');
    const fake = fakeProcess();
    const lines: string[] = [];
    const args = ['--bits', '4/4', '--iterations', '400', '--batch', '8', '--workers', '1', '--backend', 'wasm'];
    // Interrupted once training has written its first checkpoint, however long the start took.
    const timer = setInterval(() => {
      if (!existsSync(join(state, 'checkpoint.json'))) return;
      clearInterval(timer);
      fake.send('SIGINT');
    }, 20);
    const stopped = await quantizeCommand(
      [teacher, ...args, '--checkpoint', state, '--checkpoint-every', '0.005', '--out', join(dir, 'first')],
      (line) => lines.push(line),
      fake.target,
    );
    clearInterval(timer);
    expect(stopped).toBe(INTERRUPTED_EXIT_CODE);
    expect(lines.join('\n')).toContain(`its training state is in ${state}: continue with --resume ${state}`);
    const done = Number(/after (\d+) iterations/.exec(lines.join('\n'))?.[1]);
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(400);

    // Continued with a shorter iteration budget so the test stays short: it starts where the first stopped.
    const resumed: string[] = [];
    const budget = String(done + 3);
    const code = await quantizeCommand(
      [
        teacher,
        ...args.slice(0, 2),
        '--iterations',
        budget,
        ...args.slice(4),
        '--resume',
        state,
        '--out',
        join(dir, 'second'),
      ],
      (line) => resumed.push(line),
      fakeProcess().target,
    );
    expect(code).toBe(0);
    expect(resumed.join('\n')).toContain(`resumed from ${state} at iteration ${done}`);
    expect(resumed.join('\n')).toMatch(new RegExp(`: ${budget} iterations in`));
  });
});
