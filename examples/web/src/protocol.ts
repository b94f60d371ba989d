// Messages between the page and the worker that quantizes.
import type { io } from '@tensorflow/tfjs-core';
import type { DataFreeProgress, ExportReport, Fidelity, SamplePreview } from 'qimera';
import type { RunSettings } from './run_settings.js';

/** Where the model comes from: the bundled MNIST teacher, a URL, or the user's files. */
export type ModelSource = { kind: 'bundled' } | { kind: 'url'; url: string } | { kind: 'files'; files: File[] };

/** The tfjs backends the page offers; 'auto' takes the fastest that starts. */
export const PAGE_BACKENDS = ['auto', 'webgpu', 'webgl', 'wasm'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

export type Request =
  | {
      type: 'run';
      source: ModelSource;
      settings: RunSettings;
      backend: PageBackend;
      /** wasm: use threads where the page is cross-origin isolated. */
      threads: boolean;
      /** The bundled digits, normalised (28x28x1 each), to compare predictions on. */
      digits: Float32Array;
    }
  | { type: 'cancel' };

/** What a finished run hands the page. */
export interface RunResult {
  method: string;
  backend: string;
  iterations: number;
  aborted: boolean;
  wallTimeMs: number;
  /** Training images per second (generator and student steps), null for methods that do not train. */
  imagesPerSecond: number | null;
  fidelity: { start: Fidelity; returned: Fidelity } | null;
  /** Top-1 classes of the bundled digits, for models that take them (28x28x1, 10 classes). */
  predictions: { teacher: number[]; student: number[] } | null;
  artifacts: io.ModelArtifacts;
  exported: ExportReport;
}

export type Reply =
  | { type: 'backend'; backend: string }
  | { type: 'model'; name: string; inputShape: number[]; classes: number; parameters: number }
  | { type: 'stage'; text: string }
  | { type: 'log'; text: string }
  | { type: 'progress'; progress: DataFreeProgress }
  | { type: 'samples'; preview: SamplePreview; iteration: number }
  | { type: 'result'; result: RunResult }
  | { type: 'error'; message: string };
