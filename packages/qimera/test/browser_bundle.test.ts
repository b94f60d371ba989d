import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createContext, runInContext } from 'node:vm';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));

// What a page would run: quantize, export to memory, load back, and the two Node-only
// features failing with their messages.
const PAGE = `
import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { canUseWorkerThreads, exportQuantized, loadQuantizedModel, quantizeDataFree } from 'qimera';
import { tinySequential } from './test-support/models.ts';

const failure = (promise) => promise.then(() => 'no error', (error) => error.message);
(async () => {
const teacher = tinySequential();
const { model } = await quantizeDataFree(teacher, {
  weightBits: 8, activationBits: 8, method: 'minmax', batchSize: 2, calibrationBatches: 1,
});
let saved = null;
await exportQuantized(model, tf.io.withSaveHandler(async (artifacts) => {
  saved = artifacts;
  return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
}));
const loaded = await loadQuantizedModel(tf.io.fromMemory(saved));
const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);
const gap = tf.max(tf.abs(tf.sub(model.predict(x), loaded.predict(x)))).dataSync()[0];
// The whole method on one thread: calibrated start, warm-up, distillation.
const trained = await quantizeDataFree(teacher, {
  weightBits: 4, activationBits: 4, batchSize: 8, iterations: 4, iterationsPerEpoch: 2, warmupEpochs: 1,
  generator: { baseChannels: 8 }, calibrationImages: 16, fidelityImages: 16, synthesisSteps: 2, latentDim: 8,
});
return {
  iterations: trained.report.iterations,
  trainedPredicts: trained.model.predict(x).shape,
  backend: tf.getBackend(),
  canUseWorkerThreads: canUseWorkerThreads(),
  gap,
  folder: await failure(exportQuantized(model, 'out/')),
  workers: await failure(quantizeDataFree(teacher, {
    weightBits: 4, activationBits: 4, method: 'gdfq', start: 'minmax', iterations: 1, batchSize: 2, workers: 2,
  })),
};
})().then(report, (error) => report({ error: error.stack }));
`;

/**
 * Runs a script in a fresh context shaped like a page's: a window and document, timers, text codecs
 * and performance, but no process, require, Buffer or setImmediate. Resolves with what
 * the script passes to `report`.
 */
function runInPage(code: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const page: Record<string, unknown> = {
      console,
      setTimeout,
      clearTimeout,
      setInterval,
      clearInterval,
      queueMicrotask,
      TextEncoder,
      TextDecoder,
      performance,
      URL,
      AbortController,
      AbortSignal,
      report: resolve,
    };
    page.window = page;
    page.self = page;
    page.document = {}; // tfjs takes a window with a document for a browser
    runInContext(code, createContext(page));
  });
}

describe('the browser build', () => {
  it('bundles for browsers without Node built-ins; quantizes, trains, exports and loads in memory', async () => {
    const bundle = await build({
      stdin: { contents: PAGE, resolveDir: root, loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'iife',
      target: 'es2022',
      // Sources instead of dist (no build needed): tsconfig paths for the packages,
      // the source condition for their '#' imports.
      tsconfig: join(root, 'tsconfig.json'),
      conditions: ['@qimera/source'],
      write: false,
      logLevel: 'silent',
    });
    const code = bundle.outputFiles[0]?.text ?? '';
    expect(code).not.toMatch(/(?:from|import\(|require\()\s*["']node:/);
    expect(code).not.toContain('worker_threads');
    const result = await runInPage(code);
    expect(result.error).toBeUndefined();
    expect(result.backend).toBe('cpu');
    expect(result.iterations).toBe(4);
    expect(result.trainedPredicts).toEqual([2, 5]);
    expect(result.gap).toBe(0);
    expect(result.folder).toBe(
      "cannot save to the folder 'out/': folders need Node.js; pass a tfjs IO handler or a URL " +
        "('downloads://name', 'indexeddb://name', 'http(s)://...')",
    );
    expect(result.workers).toBe(
      'quantizeDataFree: workers: 2 needs Node.js worker threads, which this platform lacks; use workers: 1',
    );
    expect(result.canUseWorkerThreads).toBe(false);
  });
});
