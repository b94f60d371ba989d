import type { DataFreeMethod, DataFreeOptions } from 'qimera';

/** What the page asks for, as one run's settings. */
export interface RunSettings {
  weightBits: number;
  activationBits: number;
  method: DataFreeMethod;
  /** Time budget in minutes; null when only `iterations` bounds the run. */
  minutes: number | null;
  /** Iteration budget (runs repeat exactly for a seed); null for the time budget alone. */
  iterations: number | null;
  seed: number;
  /** The model's input range after its normalisation; null when unknown. */
  inputRange: [number, number] | null;
  /** The generator's width (`generator.baseChannels`); null for the library's default. */
  generatorChannels: number | null;
}

/**
 * The `quantizeDataFree` options of a page run (callbacks aside), the same in the page's
 * worker and in Node, so both can be compared. With a known input range, synthesis uses
 * the settings the docs recommend (200 steps, BN-statistics weight 10). One worker: the
 * page already trains off the main thread, in a Web Worker.
 */
export function dataFreeOptions(settings: RunSettings): DataFreeOptions {
  return {
    method: settings.method,
    weightBits: settings.weightBits,
    activationBits: settings.activationBits,
    seed: settings.seed,
    backend: 'current',
    workers: 1,
    ...(settings.minutes !== null ? { minutes: settings.minutes } : {}),
    ...(settings.iterations !== null ? { iterations: settings.iterations } : {}),
    ...(settings.inputRange ? { inputRange: settings.inputRange, synthesisSteps: 200, synthesisBnsWeight: 10 } : {}),
    ...(settings.generatorChannels !== null ? { generator: { baseChannels: settings.generatorChannels } } : {}),
  };
}
