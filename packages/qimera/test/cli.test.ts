import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import '../../../test-support/backend.js';
import { CIFAR10_TEST_BATCH, RESNET20_MODEL_JSON, sharedFilesMissing } from '../../../test-support/shared.js';
import { runCli } from '../src/cli/run.js';

/** Runs the CLI in-process; returns the exit code and what it printed. */
async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

const scratch = () => mkdtempSync(join(tmpdir(), 'qimera-cli-'));

describe('qimera CLI: help and bad command lines', () => {
  it('prints help for the program and each command', async () => {
    expect(await cli('--help')).toMatchObject({
      code: 0,
      out: expect.stringContaining('qimera quantize <model.json>'),
    });
    expect(await cli()).toMatchObject({ code: 0, out: expect.stringContaining('Commands:') });
    expect(await cli('quantize', '--help')).toMatchObject({ code: 0, out: expect.stringContaining('--fold-bn') });
    expect(await cli('eval', '-h')).toMatchObject({ code: 0, out: expect.stringContaining('--cifar10 <dir>') });
  });

  it('names the bad argument and exits 2', async () => {
    const cases: [string[], string][] = [
      [['frob'], "unknown command 'frob' (quantize, eval or compare)"],
      [['quantize', '--bits', '4/4', '--out', 'x'], 'quantize needs the model.json to quantize'],
      [['quantize', 'm.json', '--out', 'x'], '--bits is required, e.g. --bits 4/4'],
      [
        ['quantize', 'm.json', '--bits', '4-4', '--out', 'x'],
        "--bits must be W/A with both from 2 to 8 (the export packs 2-8 bits), got '4-4'",
      ],
      [['quantize', 'm.json', '--bits', '4/9', '--out', 'x'], "got '4/9'"],
      [['quantize', 'm.json', '--bits', '4/4'], '--out <dir> is required'],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--method', 'dfq'],
        "--method must be qimera, gdfq, adaround, mse or minmax, got 'dfq'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--guard', 'best'],
        '--guard must be kl, agreement or off',
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--start', 'zero'],
        '--start must be calibrated or minmax',
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--minutes', '0'],
        "--minutes must be a positive number, got '0'",
      ],
      [['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--minutes', '1', '--iterations', '5'], 'not both'],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--memory-limit', '0'],
        "--memory-limit must be a positive number, got '0'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--iterations', '5', '--preset', 'fast'],
        "--preset must be paper or short, got 'fast'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--iterations', '5', '--workers', '3'],
        "--workers must be 1 or 2, got '3'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--iterations', '5', '--warmup-epochs', '1.5'],
        "--warmup-epochs must be a non-negative integer, got '1.5'",
      ],
      [['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--colour'], "Unknown option '--colour'"],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--input-bits', '99'],
        "--input-bits must be an integer from 2 to 16, got '99'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--first-last-bits', '1'],
        "--first-last-bits must be an integer from 2 to 16, got '1'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--bits', '3/3', '--out', 'x'],
        '--bits was given more than once; give it once',
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--input-range', '1,0'],
        "--input-range must be min,max with finite numbers and min < max, got '1,0'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--synthesis-jitter', 'two'],
        "--synthesis-jitter must be a non-negative integer, got 'two'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--synthesis-tv', '0'],
        "--synthesis-tv must be a positive number, got '0'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--synthesis-noise', 'pink'],
        "--synthesis-noise must be white or multiScale, got 'pink'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--method', 'adaround', '--granularity', 'net'],
        "--granularity must be layer or block, got 'net'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--method', 'adaround', '--drop-quantization', '2'],
        "--drop-quantization must be a probability from 0 to 1, got '2'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--granularity', 'block'],
        '--granularity goes with --method adaround, not qimera',
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--method', 'mse', '--drop-quantization', '0.5'],
        '--drop-quantization goes with --method adaround, not mse',
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--bns-weight', '0'],
        "--bns-weight must be a positive number, got '0'",
      ],
      [
        ['quantize', 'm.json', '--bits', '-4/4', '--out', 'x'],
        "--bits must be W/A with both from 2 to 8 (the export packs 2-8 bits), got '-4/4'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--input-range', '-1,-3'],
        "--input-range must be min,max with finite numbers and min < max, got '-1,-3'",
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--method', 'mse', '--checkpoint', 'c'],
        '--checkpoint and --resume go with --method qimera or gdfq, not mse',
      ],
      [
        ['quantize', 'm.json', '--bits', '4/4', '--out', 'x', '--checkpoint-every', '3'],
        '--checkpoint-every goes with --checkpoint <dir>',
      ],
      [['eval', 'm.json'], 'give one test set: --cifar10 <dir>'],
      [['eval', 'm.json', '--cifar10', 'd', '--images', 'e'], 'give one test set'],
      [['eval', 'm.json', '--cifar10', 'd', '--mean', '0.5'], '--mean, --std and --classes go with --images'],
      [['eval', 'm.json', '--images', 'd', '--std', '0.2,x'], '--std must be numbers separated by commas'],
      [['compare', 'a.json'], 'compare needs two model.json files'],
      [['compare', 'a.json', 'b.json'], '--images <dir> is required'],
      [['eval', 'm.json', '--cifar10', 'd', '--limit', 'ten'], "--limit must be a positive integer, got 'ten'"],
      [['eval', 'a.json', 'b.json', '--cifar10', 'd'], "unexpected argument 'b.json'"],
    ];
    for (const [argv, message] of cases) {
      const result = await cli(...argv);
      expect(result.code, argv.join(' ')).toBe(2);
      expect(result.err).toContain(message);
      expect(result.err).toContain('--help');
    }
  });

  it('refuses a non-empty output folder before any work, and a missing model without leaving a folder', async () => {
    const dir = scratch();
    const busy = join(dir, 'busy');
    mkdirSync(busy);
    writeFileSync(join(busy, 'keep.txt'), 'x');
    const refused = await cli('quantize', 'missing.json', '--bits', '4/4', '--method', 'minmax', '--out', busy);
    expect(refused).toMatchObject({
      code: 2,
      err: expect.stringContaining(`--out ${busy} already holds files (keep.txt): pass --force to replace them`),
    });
    expect(readdirSync(busy)).toEqual(['keep.txt']);

    // An output path below a file cannot be created: refused before loading anything.
    writeFileSync(join(dir, 'file.txt'), 'x');
    const belowFile = join(dir, 'file.txt', 'out');
    const unwritable = await cli('quantize', 'missing.json', '--bits', '4/4', '--method', 'minmax', '--out', belowFile);
    expect(unwritable).toMatchObject({
      code: 2,
      err: expect.stringContaining(`--out ${belowFile} cannot be created: ${join(dir, 'file.txt')} is a file`),
    });

    const out = join(dir, 'fresh');
    const missing = await cli(
      'quantize',
      join(dir, 'nope/model.json'),
      '--bits',
      '4/4',
      '--method',
      'minmax',
      '--out',
      out,
    );
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`${join(dir, 'nope/model.json')}: model.json not found`);
    expect(existsSync(out)).toBe(false);
    const evalMissing = await cli('eval', join(dir, 'nope.json'), '--cifar10', dir);
    expect(evalMissing).toMatchObject({
      code: 1,
      err: expect.stringContaining('test_batch.bin: CIFAR-10 test batch not found'),
    });
  });
});

describe('qimera CLI: output folders', () => {
  const teacher = fileURLToPath(new URL('../../../examples/mnist/fixtures/teacher/model.json', import.meta.url));
  const quantize = (out: string, ...extra: string[]) =>
    cli('quantize', teacher, '--bits', '8/8', '--method', 'minmax', '--backend', 'wasm', '--out', out, ...extra);

  it('keeps the first and last layers at --first-last-bits in the artifact', async () => {
    const out = join(scratch(), 'ends');
    const result = await cli(
      'quantize',
      teacher,
      '--bits',
      '4/4',
      '--first-last-bits',
      '8',
      '--method',
      'minmax',
      '--backend',
      'wasm',
      '--out',
      out,
    );
    expect(result.code).toBe(0);
    const layers: { class_name: string; config: { name: string; weight_bits?: number; bits?: number } }[] = JSON.parse(
      readFileSync(join(out, 'model.json'), 'utf8'),
    ).userDefinedMetadata.qimera.modelTopology.config.layers;
    const bits = Object.fromEntries(
      layers
        .filter((l) => l.class_name.startsWith('Quantized') || l.class_name === 'ActivationQuantizer')
        .map((l) => [l.config.name, l.config.weight_bits ?? l.config.bits]),
    );
    expect(bits).toEqual({ conv1: 8, relu1_quant: 8, conv2: 4, relu2_quant: 4, conv3: 4, relu3_quant: 8, logits: 8 });
  });

  it('learns rounding block by block with --granularity and --drop-quantization, and says what it kept', async () => {
    const out = join(scratch(), 'blocks');
    const result = await cli(
      'quantize',
      teacher,
      '--bits',
      '4/4',
      '--method',
      'adaround',
      '--granularity',
      'block',
      '--drop-quantization',
      '0.5',
      '--bns-weight',
      '10',
      '--synthesis-tv',
      '1',
      '--synthesis-noise',
      'multiScale',
      '--minutes',
      '0.3',
      '--backend',
      'wasm',
      '--out',
      out,
    );
    expect(result.code).toBe(0);
    // The teacher is a plain stack: each of its four layers with a kernel is a block.
    const line = /learned rounding on (\d+) synthesized images: kept for (\d+) of (\d+) blocks/.exec(result.out);
    expect(line?.[3]).toBe('4');
    expect(Number(line?.[1])).toBeGreaterThan(0);
    expect(Number(line?.[2])).toBeLessThanOrEqual(4);
    expect(readdirSync(out).sort()).toEqual(['model.json', 'weights.bin']);
  });

  it('names the leftovers of a killed run, and --force replaces the folder and removes them', async () => {
    const dir = scratch();
    const out = join(dir, 'model');
    mkdirSync(out);
    writeFileSync(join(out, 'old.txt'), 'x');
    const debris = join(dir, '.model.partial-999-abcd0123');
    mkdirSync(debris);
    expect((await quantize(join(dir, 'other'))).code).toBe(0);
    writeFileSync(join(dir, 'other', 'keep.txt'), 'x');
    mkdirSync(join(dir, '.other.partial-999-abcd0123'));
    const refused = await quantize(join(dir, 'other'));
    expect(refused.code).toBe(2);
    expect(refused.err).toContain('already holds files (keep.txt, model.json, weights.bin): pass --force');
    rmSync(join(dir, 'other'), { recursive: true });
    const named = await quantize(join(dir, 'other'));
    expect(named.err).toContain(`an interrupted save left ${join(dir, '.other.partial-999-abcd0123')} beside it`);

    const forced = await quantize(out, '--force');
    expect(forced.code).toBe(0);
    expect(readdirSync(out).sort()).toEqual(['model.json', 'weights.bin']);
    expect(existsSync(debris)).toBe(false);
  });
});

const skipReason = sharedFilesMissing(RESNET20_MODEL_JSON, CIFAR10_TEST_BATCH);
describe.skipIf(skipReason !== null)('qimera CLI on ResNet-20 / CIFAR-10 (shared)', () => {
  it('quantizes with BN folded, writes the artifact, and evaluates it, its integer form and the teacher', async () => {
    const out = join(scratch(), 'resnet20-w4a4');
    const cifar = dirname(CIFAR10_TEST_BATCH);
    const quantized = await cli(
      'quantize',
      RESNET20_MODEL_JSON,
      '--bits',
      '4/4',
      '--method',
      'minmax',
      '--fold-bn',
      '--input-bits',
      '8',
      '--backend',
      'wasm',
      '--out',
      out,
    );
    expect(quantized.err).toBe('');
    expect(quantized.code).toBe(0);
    expect(quantized.out).toMatch(
      /wrote .*resnet20-w4a4: weights [\d.]+ KB \(packed\), float32 [\d.]+ KB, 1[0-6]\.\d%/,
    );
    expect(readdirSync(out).sort()).toEqual(['model.json', 'weights.bin']);
    const meta = JSON.parse(readFileSync(join(out, 'model.json'), 'utf8')).userDefinedMetadata.qimera;
    expect(
      meta.modelTopology.config.layers.some((l: { class_name: string }) => l.class_name === 'BatchNormalization'),
    ).toBe(false);

    const accuracy = (text: string) => Number(/top-1 ([\d.]+)% on 300 /.exec(text)?.[1]);
    const args = ['--cifar10', cifar, '--limit', '300', '--backend', 'wasm'];
    const fake = await cli('eval', join(out, 'model.json'), ...args);
    expect(fake.out).toContain('(exported artifact, wasm)');
    const integer = await cli('eval', join(out, 'model.json'), ...args, '--integer');
    expect(integer.out).toContain('(exported artifact, integer arithmetic, wasm)');
    const teacher = await cli('eval', RESNET20_MODEL_JSON, ...args);
    expect(teacher.out).toContain('(tfjs model, wasm)');
    expect(accuracy(teacher.out)).toBeGreaterThan(85);
    expect(accuracy(fake.out)).toBeGreaterThan(60);
    expect(Math.abs(accuracy(integer.out) - accuracy(fake.out))).toBeLessThanOrEqual(1);
  });
});
