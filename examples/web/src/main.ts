// The page: settings in, a worker quantizes, progress, generated samples, predictions and
// the artifact out. The main thread only draws, so the page stays responsive.

import bundle from 'virtual:bundled-digits';
// tfjs's browser platform (set up when its entry module runs) for its downloads handler.
import '@tensorflow/tfjs-core';
import type { io } from '@tensorflow/tfjs-core';
// The 'downloads://' handler (model.json and its weights file) from its module: the bundle
// leaves out the router registration that `io.getSaveHandlers` would need.
import { browserDownloads } from '@tensorflow/tfjs-core/dist/io/browser_files';
import type { DataFreeMethod, DataFreeProgress, GeneratedSamples } from 'qimera';
import { decodeDigits } from './digits.js';
import type { ModelSource, PageBackend, Reply, RunResult } from './protocol.js';
import type { RunSettings } from './run_settings.js';
import { drawImages } from './sample_grid.js';

const digits = decodeDigits(bundle);
const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => element<HTMLInputElement>(id);
const status = element<HTMLElement>('status');
const progressBar = element<HTMLProgressElement>('progress');
const logBox = element<HTMLPreElement>('log');

let worker: Worker | null = null;
let artifacts: { artifacts: io.ModelArtifacts; name: string } | null = null;
let started = 0;
let budgetTimer = 0;

describeEnvironment();
fillForBundledTeacher();
for (const radio of document.querySelectorAll<HTMLInputElement>('input[name=source]')) {
  radio.addEventListener('change', () => (radio.value === 'bundled' ? fillForBundledTeacher() : clearModelHints()));
}
element<HTMLFormElement>('settings').addEventListener('submit', (event) => {
  event.preventDefault();
  try {
    start(readSource(), readSettings());
  } catch (error) {
    fail((error as Error).message);
  }
});
element('cancel').addEventListener('click', () => {
  worker?.postMessage({ type: 'cancel' });
  setStage('stopping: the result so far is kept');
});
element('download').addEventListener('click', async () => {
  if (artifacts) await browserDownloads(artifacts.name).save?.(artifacts.artifacts);
});

function start(source: ModelSource, settings: RunSettings): void {
  worker?.terminate();
  window.clearInterval(budgetTimer);
  // A worker per run: the wasm backend fixes its threads when it starts.
  worker = new Worker(new URL('./quantize.worker.ts', import.meta.url), { type: 'module' });
  worker.onmessage = (event: MessageEvent<Reply>) => handle(event.data, settings);
  worker.onerror = (event) => fail(event.message || 'the worker failed to start');
  artifacts = null;
  started = performance.now();
  logBox.textContent = '';
  element('result').hidden = true;
  element('samples').hidden = settings.method !== 'qimera' && settings.method !== 'gdfq';
  setRunning(true);
  setStage('starting');
  element('metrics').textContent = '';
  progressBar.value = 0;
  if (settings.minutes !== null) {
    const budgetMs = settings.minutes * 60_000;
    budgetTimer = window.setInterval(() => {
      progressBar.value = Math.min(1, (performance.now() - started) / budgetMs);
    }, 500);
  } else progressBar.removeAttribute('value');
  const backend = element<HTMLSelectElement>('backend').value as PageBackend;
  worker.postMessage({
    type: 'run',
    source,
    settings,
    backend,
    threads: input('threads').checked,
    digits: digits.normalised,
  });
}

function handle(reply: Reply, settings: RunSettings): void {
  switch (reply.type) {
    case 'backend':
      status.dataset.backend = reply.backend;
      log(`backend: ${reply.backend}`);
      break;
    case 'model':
      log(
        `model '${reply.name}': input ${reply.inputShape.join('x')}, ${reply.classes} classes, ${reply.parameters} parameters`,
      );
      break;
    case 'stage':
      setStage(reply.text);
      break;
    case 'log':
      log(reply.text);
      break;
    case 'progress':
      showProgress(reply.progress);
      break;
    case 'samples':
      showSamples(reply.preview.plain, 'plainSamples', settings);
      showSamples(reply.preview.superposed, 'superposedSamples', settings);
      element('samplesIteration').textContent = `after iteration ${reply.iteration}`;
      break;
    case 'result':
      showResult(reply.result, settings);
      break;
    case 'error':
      fail(reply.message);
      break;
  }
}

function showProgress(progress: DataFreeProgress): void {
  window.clearInterval(budgetTimer);
  const total = progress.elapsedMs + progress.etaMs;
  progressBar.value = total > 0 ? progress.elapsedMs / total : 0;
  const losses = Object.entries(progress.losses)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name} ${(value as number).toFixed(3)}`)
    .join(', ');
  const fidelity = progress.fidelity
    ? `, fidelity ${(100 * progress.fidelity.all.agreement).toFixed(1)}% (KL ${progress.fidelity.all.kl.toFixed(3)})`
    : '';
  element('metrics').textContent =
    `iteration ${progress.iteration} (${progress.phase}${progress.superposed ? ', superposed' : ''}): ${losses}${fidelity}; ` +
    `ETA ${formatSeconds(progress.etaMs)}`;
}

function showSamples(samples: GeneratedSamples, id: string, settings: RunSettings): void {
  const canvas = element<HTMLCanvasElement>(id);
  drawImages(canvas, samples.images, samples.shape, settings.inputRange);
  const caption = canvas.nextElementSibling as HTMLElement;
  caption.textContent = samples.mixes.map((m) => m.classes.join('+')).join(' · ');
}

function showResult(result: RunResult, settings: RunSettings): void {
  setRunning(false);
  const name = `qimera-w${settings.weightBits}a${settings.activationBits}-${result.method}`;
  artifacts = { artifacts: result.artifacts, name };
  const seconds = formatSeconds(result.wallTimeMs);
  const speed = result.imagesPerSecond === null ? '' : `, ${result.imagesPerSecond.toFixed(1)} training images/s`;
  const fidelity = describeFidelity(result);
  const work = result.iterations > 0 ? `${result.iterations} iterations in ` : '';
  element('summary').textContent =
    `'${result.method}' on ${result.backend}: ${work}${seconds}${speed}${result.aborted ? ' (stopped early)' : ''}${fidelity}.`;
  const box = element('result');
  box.hidden = false;
  box.dataset.backend = result.backend;
  box.dataset.imagesPerSecond = String(result.imagesPerSecond ?? '');
  showDigits(result.predictions);
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  element('artifactSize').textContent =
    `${name}: weights ${kib(result.exported.weightBytes)} (${kib(result.exported.floatWeightBytes)} in float32, ` +
    `${(100 * result.exported.ratio).toFixed(1)}%), ${result.exported.kernelEncoding} kernels`;
  progressBar.value = 1;
  setStage(result.aborted ? 'stopped; the result so far is below' : 'done');
  status.dataset.state = 'done';
}

/** Fidelity to the float model on synthesized images: at the start and returned, for methods that train. */
function describeFidelity(result: RunResult): string {
  if (!result.fidelity) return '';
  const pct = (value: number) => `${(100 * value).toFixed(1)}%`;
  const { start, returned } = result.fidelity;
  const trained =
    result.iterations > 0
      ? `${pct(start.all.agreement)} at the start, ${pct(returned.all.agreement)} returned`
      : pct(returned.all.agreement);
  return `; top-1 agreement with the float model on synthesized images ${trained}`;
}

function showDigits(predictions: RunResult['predictions']): void {
  const box = element('digits');
  box.replaceChildren();
  if (!predictions) {
    box.textContent =
      'This model does not take 28x28 grey digits: compare on your own images in Node (qimera compare).';
    return;
  }
  const correct = (classes: number[]) => classes.filter((c, i) => c === digits.labels[i]).length / digits.count;
  const agree = predictions.student.filter((c, i) => c === predictions.teacher[i]).length / digits.count;
  const summary = document.createElement('p');
  summary.textContent =
    `On ${digits.count} bundled held-out digits: float ${(100 * correct(predictions.teacher)).toFixed(0)}% correct, ` +
    `quantized ${(100 * correct(predictions.student)).toFixed(0)}% correct, ${(100 * agree).toFixed(0)}% agreement.`;
  box.append(summary);
  box.dataset.teacher = JSON.stringify(predictions.teacher);
  box.dataset.student = JSON.stringify(predictions.student);
  const grid = document.createElement('div');
  grid.className = 'digit-grid';
  const pixels = digits.size * digits.size;
  for (let i = 0; i < digits.count; i++) {
    const cell = document.createElement('figure');
    const canvas = document.createElement('canvas');
    drawImages(
      canvas,
      digits.pixels.subarray(i * pixels, (i + 1) * pixels),
      [1, digits.size, digits.size, 1],
      [0, 1],
      2,
    );
    const caption = document.createElement('figcaption');
    caption.textContent = `${predictions.teacher[i]} → ${predictions.student[i]}`;
    if (predictions.teacher[i] !== predictions.student[i]) cell.className = 'differs';
    cell.append(canvas, caption);
    grid.append(cell);
  }
  box.append(grid);
}

function readSource(): ModelSource {
  const kind = document.querySelector<HTMLInputElement>('input[name=source]:checked')?.value;
  if (kind === 'files') {
    const files = Array.from(input('files').files ?? []);
    if (files.length === 0) throw new Error('Files: choose a model.json and its weight files');
    return { kind, files };
  }
  if (kind === 'url') {
    const url = input('url').value.trim();
    if (!url) throw new Error('URL: give the address of a model.json');
    return { kind, url };
  }
  return { kind: 'bundled' };
}

function readSettings(): RunSettings {
  const optional = (id: string) => (input(id).value.trim() === '' ? null : Number(input(id).value));
  const min = optional('rangeMin');
  const max = optional('rangeMax');
  if ((min === null) !== (max === null)) throw new Error('Input range: give both ends, or neither');
  const minutes = optional('minutes');
  const iterations = optional('iterations');
  if (minutes === null && iterations === null) throw new Error('Give a budget: minutes, iterations or both');
  return {
    weightBits: Number(input('weightBits').value),
    activationBits: Number(input('activationBits').value),
    method: element<HTMLSelectElement>('method').value as DataFreeMethod,
    minutes,
    iterations,
    seed: Number(input('seed').value),
    inputRange: min === null || max === null ? null : [min, max],
    generatorChannels: optional('generatorChannels'),
  };
}

/** The bundled teacher's input range and the demo's generator width (a quarter of the paper's). */
function fillForBundledTeacher(): void {
  // Exact: rounded, the range would cut off black pixels' value.
  input('rangeMin').value = String(digits.inputRange[0]);
  input('rangeMax').value = String(digits.inputRange[1]);
  input('generatorChannels').value = '32';
}

function clearModelHints(): void {
  for (const id of ['rangeMin', 'rangeMax', 'generatorChannels']) input(id).value = '';
}

function describeEnvironment(): void {
  const parts = [
    `cross-origin isolated: ${self.crossOriginIsolated ? 'yes (wasm threads available)' : 'no (wasm runs on one thread)'}`,
    `WebGPU: ${'gpu' in navigator ? 'exposed' : 'absent'}`,
    `${navigator.hardwareConcurrency} logical cores`,
  ];
  element('environment').textContent = parts.join('; ');
}

function setRunning(running: boolean): void {
  // A run that stops, with or without a result, leaves the bar where it ends.
  if (!running) window.clearInterval(budgetTimer);
  element<HTMLButtonElement>('run').disabled = running;
  element<HTMLButtonElement>('cancel').disabled = !running;
  status.dataset.state = running ? 'running' : 'idle';
}

function setStage(text: string): void {
  element('stage').textContent = `${text} (${formatSeconds(performance.now() - started)})`;
}

function fail(message: string): void {
  setRunning(false);
  status.dataset.state = 'error';
  element('stage').textContent = `Error: ${message}`;
}

function log(text: string): void {
  logBox.textContent += `${text}\n`;
}

function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
