// The web example end to end in Debian's Chromium: the built page quantizes the bundled
// MNIST teacher on wasm and on WebGL (SwiftShader), its predictions are compared with the
// same run in Node, and the artifact it downloads loads back in Node. CI sets
// QIMERA_BROWSER_TESTS=required (and installs Chromium); elsewhere the tests are skipped,
// saying why, when Chromium is absent.
import '@tensorflow/tfjs-backend-wasm';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { memory } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import type { Browser, Page } from 'playwright-core';
import { loadQuantizedModel, quantizeDataFree, useFastestBackend } from 'qimera';
import { loadLayersModelFromFile } from 'qimera/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM,
  hasChromium,
  launchChromium,
  PAGE_DIGITS,
  pageOutcome,
  runInPage,
  SHORT_QIMERA_RUN,
  servePage,
  startInPage,
} from '../harness.js';
import { classifyDigits } from '../src/classify.js';
import { dataFreeOptions, type RunSettings } from '../src/run_settings.js';

const required = process.env.QIMERA_BROWSER_TESTS === 'required';
if (!hasChromium && !required) {
  console.warn(`web example tests skipped: no Chromium at ${CHROMIUM} (Debian package 'chromium', or CHROMIUM_PATH)`);
}
const TEACHER = fileURLToPath(new URL('../../mnist/fixtures/teacher/model.json', import.meta.url));
/** Qimera from the calibrated start: 50 warm-up iterations, then 10 student steps. */
const TRAINED = SHORT_QIMERA_RUN;
/**
 * The calibrated start alone, with the library's short synthesis (no input range): WebGL
 * on SwiftShader, the software GPU CI has, takes about 8 s per training iteration here
 * (wasm 0.35 s), so its run synthesizes and calibrates but does not train.
 */
const CALIBRATED: RunSettings = { ...TRAINED, method: 'mse', inputRange: null };

// A test runs the page and Node one after the other (about 90 s on an idle 2-core machine):
// vitest's 120 s default is too close on a loaded or slower one.
const E2E_TIMEOUT_MS = 600_000;

describe.skipIf(!hasChromium && !required)('the web example in Chromium', { timeout: E2E_TIMEOUT_MS }, () => {
  let served: Awaited<ReturnType<typeof servePage>>;
  let browser: Browser;
  let teacher: LayersModel;
  beforeAll(async () => {
    await useFastestBackend({ prefer: 'wasm' });
    teacher = await loadLayersModelFromFile(TEACHER);
    served = await servePage();
    browser = await launchChromium();
  });
  afterAll(async () => {
    teacher?.dispose();
    await browser?.close();
    await served?.close();
  });

  const open = async (): Promise<Page> => {
    const page = await browser.newPage({ acceptDownloads: true });
    await page.goto(served.url);
    return page;
  };

  it('quantizes on wasm exactly as Node does, and the artifact it downloads loads in Node', async () => {
    const page = await open();
    const outcome = await runInPage(page, { settings: TRAINED, backend: 'wasm', threads: true });
    expect(outcome.backend).toBe('wasm');
    expect(outcome.teacher).toEqual(classify(teacher));
    // Same backend, seed and iteration budget: the same student (threads only split XNNPACK's work).
    expect(outcome.student).toEqual(await quantizeInNode(TRAINED));

    const folder = mkdtempSync(join(tmpdir(), 'qimera-download-'));
    try {
      const downloads: Promise<unknown>[] = [];
      page.on('download', (download) => downloads.push(download.saveAs(join(folder, download.suggestedFilename()))));
      await page.click('#download');
      await expect.poll(() => downloads.length).toBe(2);
      await Promise.all(downloads);
      const name = 'qimera-w4a4-qimera';
      const before = memory().numTensors;
      const loaded = await loadQuantizedModel(join(folder, `${name}.json`));
      expect(classify(loaded)).toEqual(outcome.student);
      loaded.dispose();
      expect(memory().numTensors).toBe(before);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
    const screenshot = process.env.QIMERA_SCREENSHOT;
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    await page.close();
  });

  it('quantizes on WebGL (SwiftShader) within a stated tolerance of Node', async () => {
    const page = await open();
    const outcome = await runInPage(page, { settings: CALIBRATED, backend: 'webgl', threads: false });
    expect(outcome.backend).toBe('webgl');
    expect(outcome.teacher).toEqual(classify(teacher));
    // GPU shaders round differently, so the synthesized images and ranges differ slightly:
    // at least 93 of the 100 digits get the class they get in Node (97 measured).
    expect(agreement(outcome.student, await quantizeInNode(CALIBRATED))).toBeGreaterThanOrEqual(0.93);
    await page.close();
  });

  it("'auto' passes over WebGL on a software renderer and runs on wasm", async () => {
    const page = await open();
    const outcome = await runInPage(page, {
      settings: { ...CALIBRATED, method: 'minmax' },
      backend: 'auto',
      threads: true,
    });
    expect(outcome.backend).toBe('wasm');
    expect(outcome.log).toMatch(/auto: not webgl, which runs on a software renderer here \(.*SwiftShader/);
    await page.close();
  });

  it('loads a model from picked files and from a URL as it loads the bundled one', async () => {
    const page = await open();
    const settings: RunSettings = { ...CALIBRATED, method: 'minmax' };
    const bundled = await runInPage(page, { settings, backend: 'wasm', threads: true });
    const files = [TEACHER, TEACHER.replace(/model\.json$/, 'weights.bin')];
    const picked = await runInPage(page, { source: { files }, settings, backend: 'wasm', threads: true });
    const url = new URL('teacher/model.json', served.url).href;
    const fetched = await runInPage(page, { source: { url }, settings, backend: 'wasm', threads: true });
    for (const outcome of [picked, fetched]) {
      expect(outcome.teacher).toEqual(bundled.teacher);
      expect(outcome.student).toEqual(bundled.student);
    }
    await page.close();
  });

  it('Stop ends training early and keeps a usable result', async () => {
    const page = await open();
    await startInPage(page, {
      settings: { ...CALIBRATED, method: 'qimera', iterations: 100_000 },
      backend: 'wasm',
      threads: true,
    });
    await page.waitForSelector('#samplesIteration:has-text("iteration")', { timeout: 300_000 });
    await page.click('#cancel');
    const outcome = await pageOutcome(page);
    expect(outcome.summary).toContain('(stopped early)');
    expect(outcome.student).toHaveLength(PAGE_DIGITS.count);
    // Still a usable student: it agrees with the teacher on most digits.
    expect(agreement(outcome.student, outcome.teacher)).toBeGreaterThan(0.5);
    expect(await page.isVisible('#download')).toBe(true);
    await page.close();
  });

  /** The student's classes of the bundled digits when Node (wasm) runs the page's settings. */
  const quantizeInNode = async (settings: RunSettings): Promise<number[]> => {
    const { model } = await quantizeDataFree(teacher, dataFreeOptions(settings));
    try {
      return classify(model);
    } finally {
      model.dispose();
    }
  };
});

function classify(model: LayersModel): number[] {
  return classifyDigits(model, PAGE_DIGITS.normalised);
}

function agreement(a: number[], b: number[]): number {
  return a.filter((c, i) => c === b[i]).length / a.length;
}
