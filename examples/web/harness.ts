// Drives the built page in Debian's Chromium (playwright-core, no browser download): used
// by the end-to-end test and the page benchmark.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { build, preview } from 'vite';
import { bundledDigits } from './bundled_digits.js';
import { decodeDigits } from './src/digits.js';
import type { RunSettings } from './src/run_settings.js';

const CONFIG = fileURLToPath(new URL('./vite.config.ts', import.meta.url));
/** Debian's Chromium (package `chromium`), or the binary `CHROMIUM_PATH` names. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Whether {@link CHROMIUM} is installed. */
export const hasChromium = existsSync(CHROMIUM);

/** The digits the page bundles, decoded in Node. */
export const PAGE_DIGITS = decodeDigits(bundledDigits());

/**
 * The short run the test and the benchmark compare: 'qimera' W4A4 from the calibrated
 * start, 50 warm-up iterations then 10 student steps, seed 1, the demo's generator width
 * and synthesis inside the digits' input range.
 */
export const SHORT_QIMERA_RUN: RunSettings = {
  weightBits: 4,
  activationBits: 4,
  method: 'qimera',
  minutes: null,
  iterations: 60,
  seed: 1,
  inputRange: PAGE_DIGITS.inputRange,
  generatorChannels: 32,
};

/** The page built into a temporary folder and served on a free localhost port (cross-origin isolated). */
export async function servePage(): Promise<{ url: string; close: () => Promise<void> }> {
  const outDir = mkdtempSync(join(tmpdir(), 'qimera-web-'));
  const common = { configFile: CONFIG, logLevel: 'warn' as const, build: { outDir, emptyOutDir: true } };
  await build(common);
  const server = await preview({ ...common, preview: { port: 0, host: '127.0.0.1', strictPort: false } });
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('servePage: the preview server has no local URL');
  return {
    url,
    close: async () => {
      await server.close();
      rmSync(outDir, { recursive: true, force: true });
    },
  };
}

/**
 * Chromium headless. Flags: no sandbox (CI runs as root), no background networking (the
 * machine has no outside network); WebGL through SwiftShader, the software GPU.
 */
export function launchChromium(): Promise<Browser> {
  if (!hasChromium) {
    throw new Error(`no Chromium at ${CHROMIUM}: install Debian's 'chromium' package or set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
    ],
  });
}

/** A page run: the model, the form's settings and backend. */
export interface PageRun {
  /** The bundled teacher (default), files for the file picker, or a model.json URL. */
  source?: { files: string[] } | { url: string };
  settings: RunSettings;
  backend: 'wasm' | 'webgl' | 'webgpu' | 'auto';
  threads: boolean;
}

/** What the page showed at the end of a run. */
export interface PageOutcome {
  backend: string;
  imagesPerSecond: number | null;
  /** The result's one-line summary. */
  summary: string;
  teacher: number[];
  student: number[];
  log: string;
}

/** Fills the page's form, runs it and waits (up to `timeoutMs`) for the result or an error. */
export async function runInPage(page: Page, run: PageRun, timeoutMs = 600_000): Promise<PageOutcome> {
  await startInPage(page, run);
  return pageOutcome(page, timeoutMs);
}

/** Fills the page's form and presses Quantize. */
export async function startInPage(page: Page, run: PageRun): Promise<void> {
  const { settings } = run;
  const text = (value: number | null) => (value === null ? '' : String(value));
  const source = run.source;
  if (source && 'files' in source) {
    await page.check('input[name=source][value=files]');
    await page.setInputFiles('#files', source.files);
  } else if (source) {
    await page.check('input[name=source][value=url]');
    await page.fill('#url', source.url);
  } else await page.check('input[name=source][value=bundled]');
  await page.fill('#weightBits', String(settings.weightBits));
  await page.fill('#activationBits', String(settings.activationBits));
  await page.selectOption('#method', settings.method);
  await page.fill('#minutes', text(settings.minutes));
  await page.fill('#iterations', text(settings.iterations));
  await page.fill('#seed', String(settings.seed));
  await page.fill('#rangeMin', text(settings.inputRange?.[0] ?? null));
  await page.fill('#rangeMax', text(settings.inputRange?.[1] ?? null));
  await page.fill('#generatorChannels', text(settings.generatorChannels));
  await page.selectOption('#backend', run.backend);
  await page.setChecked('#threads', run.threads);
  await page.click('#run');
}

/** Waits (up to `timeoutMs`) for the run's result, and reads it; a page error throws. */
export async function pageOutcome(page: Page, timeoutMs = 600_000): Promise<PageOutcome> {
  await page.waitForSelector('#status:is([data-state=done], [data-state=error])', { timeout: timeoutMs });
  const state = await page.getAttribute('#status', 'data-state');
  const log = (await page.textContent('#log')) ?? '';
  if (state === 'error') throw new Error(`the page failed: ${await page.textContent('#stage')}\n${log}`);
  const data = (selector: string, name: string) => page.getAttribute(selector, `data-${name}`);
  const speed = await data('#result', 'images-per-second');
  return {
    backend: (await data('#result', 'backend')) ?? '',
    imagesPerSecond: speed ? Number(speed) : null,
    summary: (await page.textContent('#summary')) ?? '',
    teacher: JSON.parse((await data('#digits', 'teacher')) ?? '[]') as number[],
    student: JSON.parse((await data('#digits', 'student')) ?? '[]') as number[],
    log,
  };
}
