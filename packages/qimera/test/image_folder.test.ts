import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import { runCli } from '../src/cli/run.js';
import { readImageFolder } from '../src/image_folder.js';
import { saveLayersModelToDir } from '../src/node.js';

beforeAll(() => useBackend('cpu'));

/** An RGBA image whose pixel (y, x) channel c is `(7 * y + 3 * x + 50 * c + seed) % 256`. */
function pattern(width: number, height: number, seed: number): Uint8Array {
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 4; c++) data[(y * width + x) * 4 + c] = c === 3 ? 255 : (7 * y + 3 * x + 50 * c + seed) % 256;
  return data;
}

function writePng(path: string, width: number, height: number, data: Uint8Array): void {
  const png = new PNG({ width, height });
  png.data = Buffer.from(data);
  writeFileSync(path, PNG.sync.write(png));
}

describe('readImageFolder', () => {
  it('decodes PNG exactly and JPEG closely, normalises per channel, labels by class folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qimera-images-'));
    mkdirSync(join(dir, 'cat'));
    mkdirSync(join(dir, 'dog'));
    writePng(join(dir, 'dog', 'a.png'), 8, 8, pattern(8, 8, 1));
    writePng(join(dir, 'cat', 'b.png'), 8, 8, pattern(8, 8, 9));
    const raw = pattern(8, 8, 5);
    writeFileSync(join(dir, 'cat', 'c.jpg'), jpeg.encode({ data: Buffer.from(raw), width: 8, height: 8 }, 100).data);
    writeFileSync(join(dir, 'cat', 'notes.txt'), 'not an image');
    const before = tf.memory().numTensors;
    const folder = await readImageFolder(dir, {
      height: 8,
      width: 8,
      channels: 3,
      labelled: true,
      mean: [0.5, 0.25, 0],
      std: [0.5],
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(folder.classes).toEqual(['cat', 'dog']);
    expect(folder.files.map((f) => f.slice(dir.length + 1))).toEqual(['cat/b.png', 'cat/c.jpg', 'dog/a.png']);
    expect(Array.from(folder.labels)).toEqual([0, 0, 1]);
    const firstTwo = await readImageFolder(dir, { height: 8, width: 8, channels: 3, labelled: true, limit: 2 });
    expect(firstTwo.files).toEqual(folder.files.slice(0, 2));
    expect(firstTwo.classes).toEqual(['cat', 'dog']);
    expect(folder.shape).toEqual([3, 8, 8, 3]);
    // Pixel (y=2, x=3), channel 1 of dog/a.png: (14 + 9 + 50 + 1) = 74 -> (74/255 - 0.25) / 0.5.
    const at = (n: number, y: number, x: number, c: number) => folder.images[((n * 8 + y) * 8 + x) * 3 + c] as number;
    expect(at(2, 2, 3, 1)).toBeCloseTo((74 / 255 - 0.25) / 0.5, 5);
    // JPEG at quality 100 is within a few levels of the source.
    expect(Math.abs(at(1, 4, 4, 0) - ((raw[(4 * 8 + 4) * 4] as number) / 255 - 0.5) / 0.5)).toBeLessThan(0.05);
  });

  it('resizes to the model input, reads greyscale, and ignores labels when unlabelled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qimera-images-'));
    mkdirSync(join(dir, 'nested'));
    const flat = new Uint8Array(16 * 16 * 4).fill(200);
    writePng(join(dir, 'nested', 'big.png'), 16, 16, flat);
    const folder = await readImageFolder(dir, { height: 4, width: 4, channels: 1, labelled: false });
    expect(folder.shape).toEqual([1, 4, 4, 1]);
    for (const v of folder.images) expect(v).toBeCloseTo(200 / 255, 5);
    expect(Array.from(folder.labels)).toEqual([0]);
  });

  it('names the folder, file or option that is wrong', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qimera-images-'));
    await expect(readImageFolder(dir, { height: 4, width: 4, channels: 3, labelled: false })).rejects.toThrow(
      `${dir}: no PNG or JPEG image found`,
    );
    await expect(
      readImageFolder(join(dir, 'missing'), { height: 4, width: 4, channels: 3, labelled: false }),
    ).rejects.toThrow('folder not found');
    mkdirSync(join(dir, 'bird'));
    writeFileSync(join(dir, 'bird', 'broken.png'), 'not a png');
    await expect(readImageFolder(dir, { height: 4, width: 4, channels: 3, labelled: true })).rejects.toThrow(
      /broken\.png: cannot decode the image/,
    );
    await expect(
      readImageFolder(dir, { height: 4, width: 4, channels: 3, labelled: true, classes: ['cat'] }),
    ).rejects.toThrow("class folder 'bird' is not one of the given classes");
    await expect(
      readImageFolder(dir, { height: 4, width: 4, channels: 3, labelled: true, std: [1, 0, 1] }),
    ).rejects.toThrow('std must be positive');
    await expect(readImageFolder(dir, { height: 4, width: 4, channels: 2, labelled: true })).rejects.toThrow(
      'images give 1 (grey) or 3 (RGB)',
    );
  });
});

describe('qimera eval --images and qimera compare', () => {
  it('scores a model on a labelled folder and compares two models on an unlabelled one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'qimera-cli-images-'));
    const teacher = tinySequential();
    await saveLayersModelToDir(teacher, join(dir, 'teacher'));
    // Each image goes into the folder of the class the teacher gives it: top-1 is then 100%.
    const classes = ['c0', 'c1', 'c2', 'c3', 'c4'];
    for (const name of classes) mkdirSync(join(dir, 'images', name), { recursive: true });
    for (let seed = 0; seed < 6; seed++) {
      const data = pattern(8, 8, 40 * seed);
      const x = tf.tidy(() => {
        const rgb = tf.slice(tf.tensor3d(data, [8, 8, 4], 'int32'), [0, 0, 0], [-1, -1, 3]);
        return tf.expandDims(tf.sub(tf.div(tf.cast(rgb, 'float32'), 255), 0.5), 0);
      });
      const label = tf.tidy(() => tf.argMax(teacher.predict(x) as tf.Tensor, -1).dataSync()[0] as number);
      x.dispose();
      writePng(join(dir, 'images', classes[label] as string, `${seed}.png`), 8, 8, data);
    }
    const out: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => out.push(l) };
    const model = join(dir, 'teacher', 'model.json');
    const images = join(dir, 'images');
    const common = ['--mean', '0.5', '--backend', 'cpu'];
    expect(await runCli(['eval', model, '--images', images, '--classes', classes.join(','), ...common], io)).toBe(0);
    expect(out.at(-1)).toMatch(/^top-1 100\.00% on 6 images of 5 classes in .* \(tfjs model, cpu\)$/);
    expect(
      await runCli(['eval', model, '--images', images, '--classes', classes.join(','), '--limit', '2', ...common], io),
    ).toBe(0);
    expect(out.at(-1)).toMatch(/^top-1 100\.00% on 2 images of 5 classes in /);
    expect(await runCli(['compare', model, model, '--images', images, ...common], io)).toBe(0);
    expect(out.at(-1)).toMatch(/^agreement with the teacher: top-1 100\.00%, KL 0\.0000 nats, on 6 images in /);
  });
});
