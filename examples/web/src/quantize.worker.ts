// The page's worker: loads the model, quantizes it without data and exports it, off the
// main thread so the page stays responsive. One run at a time; 'cancel' ends training
// early and the run still returns its student.
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import plainWasm from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm.wasm?url';
import simdWasm from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.wasm?url';
import threadedWasm from '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.wasm?url';
import { env, io } from '@tensorflow/tfjs-core';
import { type LayersModel, loadLayersModel } from '@tensorflow/tfjs-layers';
import { type DataFreeProgress, inspectClassifier, quantizeDataFree, quantizedArtifacts } from 'qimera';
import { startBackend } from './backend_choice.js';
import { classifyDigits, takesDigits } from './classify.js';
import type { ModelSource, Reply, Request, RunResult } from './protocol.js';
import { dataFreeOptions } from './run_settings.js';
import { trainingImagesPerSecond } from './speed.js';

setWasmPaths({
  'tfjs-backend-wasm.wasm': plainWasm,
  'tfjs-backend-wasm-simd.wasm': simdWasm,
  'tfjs-backend-wasm-threaded-simd.wasm': threadedWasm,
});

const post = (reply: Reply, transfer: Transferable[] = []) => self.postMessage(reply, { transfer });
let running: AbortController | null = null;

self.onmessage = async (event: MessageEvent<Request>) => {
  const request = event.data;
  if (request.type === 'cancel') {
    running?.abort();
    return;
  }
  if (running) {
    post({ type: 'error', message: 'a run is already in progress' });
    return;
  }
  running = new AbortController();
  try {
    await run(request, running.signal);
  } catch (error) {
    post({ type: 'error', message: error instanceof Error ? error.message : String(error) });
  } finally {
    running = null;
  }
};

async function run(request: Extract<Request, { type: 'run' }>, signal: AbortSignal): Promise<void> {
  // Threads are chosen when the wasm backend starts: once per worker, the page makes a new one per run.
  if (!request.threads) env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  const backend = await startBackend(request.backend, (text) => post({ type: 'log', text }));
  post({ type: 'backend', backend });
  if (backend === 'wasm') {
    const [simd, threads] = await Promise.all([
      env().getAsync('WASM_HAS_SIMD_SUPPORT'),
      env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT'),
    ]);
    post({ type: 'log', text: `wasm: SIMD ${simd ? 'on' : 'off'}, threads ${threads ? 'on' : 'off'}` });
  }

  post({ type: 'stage', text: 'loading the model' });
  const teacher = await loadModel(request.source);
  try {
    const shape = inspectClassifier(teacher, { needsGenerator: false, needsBatchNorm: false });
    post({
      type: 'model',
      name: teacher.name,
      inputShape: teacher.inputs[0]?.shape.slice(1) as number[],
      classes: shape.numClasses,
      parameters: teacher.countParams(),
    });
    const settings = request.settings;
    post({
      type: 'stage',
      text: `quantizing W${settings.weightBits}A${settings.activationBits} with '${settings.method}'`,
    });
    let last: DataFreeProgress | null = null;
    const { model: student, report } = await quantizeDataFree(teacher, {
      ...dataFreeOptions(settings),
      signal,
      log: (text) => post({ type: 'log', text }),
      warn: (text) => post({ type: 'log', text }),
      onProgress: (progress) => {
        last = progress;
        post({ type: 'progress', progress });
      },
      onSamples: (preview, iteration) => post({ type: 'samples', preview, iteration }),
    });
    try {
      post({ type: 'stage', text: 'comparing predictions and exporting' });
      const batchSize = report.settings.batchSize as number | undefined;
      const { artifacts, report: exported } = await quantizedArtifacts(student);
      const result: RunResult = {
        method: report.method,
        backend: report.backend,
        iterations: report.iterations,
        aborted: report.aborted,
        wallTimeMs: report.wallTimeMs,
        imagesPerSecond: trainingImagesPerSecond(last, batchSize),
        fidelity: report.fidelity ? { start: report.fidelity.start, returned: report.fidelity.returned } : null,
        predictions: takesDigits(teacher)
          ? { teacher: classifyDigits(teacher, request.digits), student: classifyDigits(student, request.digits) }
          : null,
        artifacts,
        exported,
      };
      post({ type: 'result', result }, weightBuffers(artifacts));
    } finally {
      student.dispose();
    }
  } finally {
    teacher.dispose();
  }
}

async function loadModel(source: ModelSource): Promise<LayersModel> {
  if (source.kind === 'files') {
    // tfjs reads the first file as model.json and the others as its weights.
    const json = source.files.filter((f) => f.name.endsWith('.json'));
    if (json.length !== 1)
      throw new Error(`choose one model.json and its weight files (got ${json.length} .json files)`);
    return loadLayersModel(io.browserFiles([...json, ...source.files.filter((f) => !f.name.endsWith('.json'))]));
  }
  const url =
    source.kind === 'url'
      ? source.url
      : new URL(`${import.meta.env.BASE_URL}teacher/model.json`, self.location.origin).href;
  return loadLayersModel(url);
}

function weightBuffers(artifacts: io.ModelArtifacts): ArrayBuffer[] {
  const data = artifacts.weightData;
  if (!data) return [];
  return Array.isArray(data) ? data : [data];
}
