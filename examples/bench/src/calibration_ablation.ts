// The no-training start, piece by piece: each way of choosing weight and activation
// ranges measured alone and together, at several bit widths, for any teacher and any
// held-out evaluation. The CIFAR-10 and MNIST examples run it on their teachers.
import { dispose, randomNormal } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  calibrateActivationRanges,
  correctBias,
  FidelitySet,
  type ObserverKind,
  quantizeModel,
  SeededRandom,
  sampleLabels,
  splitIntoBatches,
  synthesizeImages,
  type WeightRangeMethod,
} from 'qimera';
import { type BitsOption, bitsOption, positiveInteger, UsageError } from 'qimera/node';

/** One way of calibrating without training. */
export interface CalibrationConfig {
  name: string;
  weights: WeightRangeMethod;
  images: 'noise' | 'synthetic';
  observer: ObserverKind;
  biasCorrection: boolean;
}

const config = (
  name: string,
  weights: WeightRangeMethod,
  images: 'noise' | 'synthetic',
  observer: ObserverKind,
  biasCorrection: boolean,
): CalibrationConfig => ({ name, weights, images, observer, biasCorrection });

/** The baseline, each piece alone, and the pieces together. */
export const CALIBRATION_CONFIGS: readonly CalibrationConfig[] = [
  config('minmax (baseline)', 'minmax', 'noise', 'ema', false),
  config('weights mse', 'mse', 'noise', 'ema', false),
  config('synthetic images', 'minmax', 'synthetic', 'ema', false),
  config('activations mse (noise)', 'minmax', 'noise', 'mse', false),
  config('activations mse (synthetic)', 'minmax', 'synthetic', 'mse', false),
  config('bias correction', 'minmax', 'synthetic', 'ema', true),
  config('weights + activations mse', 'mse', 'synthetic', 'mse', false),
  config('activations mse + bias correction', 'minmax', 'synthetic', 'mse', true),
  config('all (method mse)', 'mse', 'synthetic', 'mse', true),
];

/** The command-line options every ablation script takes (for `parseArgs`). */
export const ABLATION_ARGS = {
  bits: { type: 'string', default: '8/8,5/5,4/4,3/3' },
  only: { type: 'string' },
  images: { type: 'string', default: '64' },
  steps: { type: 'string', default: '20' },
  seed: { type: 'string', default: '1' },
} as const;

/** Reads {@link ABLATION_ARGS}' values. @throws UsageError naming the option. */
export function ablationOptions(values: {
  bits: string;
  only?: string;
  images: string;
  steps: string;
  seed: string;
}): AblationOptions {
  const only = values.only?.split(',');
  const unknown = only?.find((name) => !CALIBRATION_CONFIGS.some((c) => c.name === name));
  if (unknown !== undefined) {
    const names = CALIBRATION_CONFIGS.map((c) => c.name).join(', ');
    throw new UsageError(`--only: no configuration '${unknown}'; they are: ${names}`);
  }
  return {
    configs: CALIBRATION_CONFIGS.filter((c) => !only || only.includes(c.name)),
    bits: values.bits.split(',').map((b) => bitsOption(b) as BitsOption),
    images: positiveInteger(values.images, '--images') as number,
    steps: positiveInteger(values.steps, '--steps') as number,
    seed: positiveInteger(values.seed, '--seed') as number,
  };
}

/** Options of {@link runCalibrationAblation}. */
export interface AblationOptions {
  bits: BitsOption[];
  /** The configurations to run (default all). */
  configs: readonly CalibrationConfig[];
  /** Synthesized calibration images and steps (as `quantizeDataFree`'s 'mse' method). */
  images: number;
  steps: number;
  seed: number;
}

/**
 * Runs every configuration at every bit width; prints one JSON line per run and a
 * Markdown table at the end (stdout). `evaluate` scores a model on held-out data.
 */
export async function runCalibrationAblation(
  teacher: LayersModel,
  evaluate: (model: LayersModel) => number,
  options: AblationOptions,
): Promise<void> {
  const fp = evaluate(teacher);
  const [height, width, channels] = (teacher.inputs[0]?.shape ?? []).slice(1) as number[];
  const classes = teacher.outputs[0]?.shape[1] as number;
  let started = Date.now();
  const labels = { batchSize: options.images, numClasses: classes, superposeProbability: 0, slots: 1 };
  const synthetic = await synthesizeImages(teacher, {
    targets: sampleLabels(new SeededRandom(options.seed), labels).targets,
    steps: options.steps,
    seed: options.seed,
  });
  const synthesisSeconds = (Date.now() - started) / 1000;
  console.error(`synthesized ${options.images} images in ${synthesisSeconds.toFixed(1)} s`);
  // The naive baseline's images: N(0, 1) noise, 4 batches of 200 (method 'minmax').
  const noise = Array.from({ length: 4 }, (_, i) =>
    randomNormal([200, height as number, width as number, channels as number], 0, 1, 'float32', options.seed + i),
  );
  const syntheticBatches = splitIntoBatches(synthetic, 64);
  // quantizeDataFree's fidelity set: what a data-free run could rank these starts by.
  const fidelitySet = await FidelitySet.synthesize(teacher, { steps: options.steps, seed: options.seed + 104_729 });
  const rows = new Map<string, Map<string, string>>();
  for (const { weightBits, activationBits } of options.bits) {
    const bits = `W${weightBits}A${activationBits}`;
    for (const run of options.configs) {
      started = Date.now();
      const student = await quantizeModel(teacher, {
        weightBits,
        activationBits,
        weightRange: run.weights,
        activationObserver: run.observer,
      });
      if (run.biasCorrection) correctBias(student, teacher, synthetic);
      await calibrateActivationRanges(student, run.images === 'noise' ? noise : syntheticBatches);
      const seconds = (Date.now() - started) / 1000;
      const accuracy = evaluate(student);
      const fidelity = fidelitySet.measure(student).all;
      student.dispose();
      rows.set(
        run.name,
        (rows.get(run.name) ?? new Map()).set(bits, `${pct(accuracy)} (KL ${fidelity.kl.toFixed(3)})`),
      );
      const { images, steps, seed } = options;
      console.log(
        JSON.stringify({
          bits,
          ...run,
          accuracy,
          fidelity,
          fp,
          seconds,
          synthesisSeconds,
          synthesized: images,
          steps,
          seed,
        }),
      );
    }
  }
  dispose([synthetic, ...noise, ...syntheticBatches]);
  fidelitySet.dispose();
  const columns = options.bits.map(({ weightBits, activationBits }) => `W${weightBits}A${activationBits}`);
  console.log(`\n| configuration | ${columns.join(' | ')} |\n|---|${columns.map(() => '---').join('|')}|`);
  console.log(`| FP | ${columns.map(() => pct(fp)).join(' | ')} |`);
  for (const [name, row] of rows) console.log(`| ${name} | ${columns.map((c) => row.get(c)).join(' | ')} |`);
}

function pct(value: number): string {
  return `${(100 * value).toFixed(2)}%`;
}
