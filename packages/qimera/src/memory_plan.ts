import type { GeneratorFootprint } from '@qimera/generator';
import {
  elementsPerImage,
  largestUnitElements,
  QUANTIZED_TWINS,
  type ReconstructionGranularity,
} from '@qimera/quantizers';
import { getBackend, memory } from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';

/** tfjs-wasm's heap cannot grow past 4 GiB (32-bit wasm memory). */
export const WASM_HEAP_BYTES = 4 * 2 ** 30;

// Bytes a pass holds per image, in units of the teacher's layer outputs per image,
// measured as the tfjs-wasm heap's growth with a 224x224 MobileNetV2 (docs/performance.md):
// pixel optimisation (forward, BN taps, backward, Adam) 4.8x; a forward that keeps
// every intermediate (activation calibration in a tidy, bias correction's layer-input
// model) about 1x, with 2x allowed for the student's quantizers.
const SYNTHESIS_FACTOR = 5;
const FORWARD_FACTOR = 2;
// A training iteration (generator forward and backward, teacher and student passes),
// per image, in units of the generator's plus the teacher's layer outputs: measured
// 3.9x (ResNet-20, 32x32, official generator) and 4.7x (MobileNetV2 224x224, generator
// width 16).
const TRAINING_FACTOR = 5;
// What a pass may take of the free memory: the rest is left for fragmentation and the
// tensors alive around it.
const USABLE_SHARE = 0.75;
const MIB = 2 ** 20;

/** Batch sizes that fit the backend's memory, and the figures they follow from. */
export interface MemoryPlan {
  /** The memory limit planned for, in bytes; null when the backend has none known and none was given. */
  limitBytes: number | null;
  /** Bytes one image's layer outputs take in the teacher. */
  activationBytesPerImage: number;
  /** Images optimised together when synthesizing (at most the requested batch); null when nothing is synthesized. */
  synthesisBatch: number | null;
  /** Images per forward pass that keeps its intermediates (calibration, bias correction). */
  forwardBatch: number;
}

/**
 * The memory limit of a backend: tfjs-wasm's 4 GiB heap; none known for the others
 * (cpu and tfjs-node use the machine's memory, webgl / webgpu the GPU's), unless given.
 */
export function backendMemoryLimit(backend: string, limitMB?: number): number | null {
  if (limitMB !== undefined) {
    if (!(Number.isFinite(limitMB) && limitMB > 0)) {
      throw new RangeError(`memoryLimitMB must be a positive number, got ${String(limitMB)}`);
    }
    return limitMB * MIB;
  }
  return backend === 'wasm' ? WASM_HEAP_BYTES : null;
}

/** Bytes of every layer's outputs for one image (the teacher's activation footprint). */
export function activationBytesPerImage(model: LayersModel): number {
  let elements = 0;
  for (const layer of model.layers) {
    for (const shape of shapesOf(layer.outputShape)) elements += elementsPerImage(shape);
  }
  return elements * 4;
}

type BatchShape = (number | null)[];

/** The shapes of a layer's input or output, which holds one shape or a list of them. */
function shapesOf(shape: BatchShape | BatchShape[]): BatchShape[] {
  return (Array.isArray(shape[0]) ? shape : [shape]) as BatchShape[];
}

/**
 * Plans the batch sizes of the passes over synthesized images so that they fit the
 * memory left on the backend (`limitBytes` minus the tensors alive now). Synthesis is
 * planned only when the run `synthesizes`.
 *
 * @throws if one image does not fit a pass the run makes, naming the pass, the model
 *   and the figures.
 */
export function planMemory(
  teacher: LayersModel,
  wantedBatch: number,
  limitBytes: number | null,
  synthesizes: boolean,
): MemoryPlan {
  const perImage = activationBytesPerImage(teacher);
  if (limitBytes === null) {
    return {
      limitBytes,
      activationBytesPerImage: perImage,
      synthesisBatch: synthesizes ? wantedBatch : null,
      forwardBatch: wantedBatch,
    };
  }
  const usable = USABLE_SHARE * (limitBytes - memory().numBytes);
  const fit = (factor: number, pass: string) => {
    const images = Math.floor(usable / (factor * perImage));
    if (images < 1) {
      throw new Error(
        `quantizeDataFree: ${pass} needs about ${mib(factor * perImage)} MiB per image for teacher ` +
          `'${teacher.name}' (${mib(perImage)} MiB of layer outputs x ${factor}), but the '${getBackend()}' ` +
          `backend has ${mib(usable)} MiB usable of ${mib(limitBytes)} MiB; use a backend with more memory ` +
          '(tfjs-node, or cpu in Node) or set memoryLimitMB if the limit is larger',
      );
    }
    return Math.min(wantedBatch, images);
  };
  return {
    limitBytes,
    activationBytesPerImage: perImage,
    synthesisBatch: synthesizes
      ? fit(SYNTHESIS_FACTOR, 'synthesizing images (forward and backward through the teacher)')
      : null,
    forwardBatch: fit(FORWARD_FACTOR, 'calibrating on synthesized images'),
  };
}

/**
 * Bytes learned rounding holds per image (see `reconstructRounding`): the image, and
 * the largest input plus output of a layer with a kernel, which the student's and the
 * float model's passes hold for all images while that layer is optimised.
 */
export function reconstructionBytesPerImage(model: LayersModel): number {
  let largest = 0;
  for (const layer of model.layers) {
    // The float layers quantizeModel gives a quantized (kernel) twin.
    if (!(layer.getClassName() in QUANTIZED_TWINS)) continue;
    for (const node of layer.inboundNodes) {
      const [input] = shapesOf(node.inputShapes);
      const [output] = shapesOf(node.outputShapes);
      largest = Math.max(largest, elementsPerImage(input ?? []) + elementsPerImage(output ?? []));
    }
  }
  return 4 * (elementsPerImage(model.inputs[0]?.shape ?? []) + largest);
}

// Learned rounding's peak, measured as the largest tensor bytes tfjs counted during
// reconstructRounding on a 224x224 MobileNetV2 (W4A4, steps of 8, 8 and 24 images;
// docs/performance.md): each image held 1.09x reconstructionBytesPerImage, planned at
// 1.5x for what residual connections carry past a layer and the heap's fragmentation;
// an optimisation step (learned step size, soft rounding, their gradients) at most 7.8x
// the bytes of what its largest unit computes (largestUnitElements) per image of its
// batch, for layers and blocks alike, on that model, ResNet-20 and the MobileNet-style
// CIFAR-10 fixture, planned at 10x.
const RECONSTRUCTION_HELD_FACTOR = 1.5;
const RECONSTRUCTION_STEP_FACTOR = 10;
// The fewest images per optimisation step the plan lowers a step batch to.
const MIN_STEP_BATCH = 8;

/** Images learned rounding uses, and the optimisation batch that leaves room for them. */
export interface ReconstructionPlan {
  images: number;
  /** Images per optimisation step. */
  stepBatch: number;
}

/**
 * How many images learned rounding can use: `wanted`, or fewer when what it holds for
 * them would not fit next to an optimisation step on `stepBatch` images of its largest
 * unit (a layer, or a block with `granularity: 'block'`). Where that lets more images
 * in, the step batch is halved (down to 8).
 *
 * @throws if not even one image fits, naming the model and the figures.
 */
export function planReconstruction(
  teacher: LayersModel,
  wanted: number,
  stepBatch: number,
  limitBytes: number | null,
  granularity: ReconstructionGranularity = 'layer',
): ReconstructionPlan {
  if (limitBytes === null) return { images: wanted, stepBatch };
  const perImage = reconstructionBytesPerImage(teacher);
  const stepPerImage = 4 * largestUnitElements(teacher, granularity);
  const free = USABLE_SHARE * (limitBytes - memory().numBytes);
  let batch = stepBatch;
  const stepBytes = () => RECONSTRUCTION_STEP_FACTOR * batch * stepPerImage;
  const fitting = () => Math.floor((free - stepBytes()) / (RECONSTRUCTION_HELD_FACTOR * perImage));
  while (fitting() < wanted && batch > MIN_STEP_BATCH) batch = Math.max(MIN_STEP_BATCH, Math.ceil(batch / 2));
  const images = fitting();
  if (images < 1) {
    throw new Error(
      `quantizeDataFree: learned rounding needs about ${mib(RECONSTRUCTION_HELD_FACTOR * perImage)} MiB per image ` +
        `for teacher '${teacher.name}' (its largest layer input and output, held) next to ${mib(stepBytes())} MiB ` +
        `for an optimisation step of its largest ${granularity} on ${batch} images, but the '${getBackend()}' backend has ${mib(free)} MiB usable ` +
        `of ${mib(limitBytes)} MiB; use method 'mse', a backend with more memory, or memoryLimitMB if the limit is larger`,
    );
  }
  return { images: Math.min(wanted, images), stepBatch: batch };
}

/** How a training batch fits, and the figures it follows from. */
export interface TrainingMemoryPlan {
  /** The batch over all workers, as requested. */
  batchSize: number;
  /**
   * Images per forward and backward pass in each heap when a worker's share of the
   * batch does not fit at once (gradients accumulate over the passes); null when it does.
   */
  microBatchSize: number | null;
  /** Bytes the generator's weights, gradients and two Adam states take in each heap. */
  generatorStateBytes: number;
  /** Bytes one image of an iteration holds in a heap (generator, teacher and student passes). */
  bytesPerImage: number;
}

/**
 * Plans a training iteration: every heap (each worker has its own) holds the generator
 * with its gradients and Adam states, and its share of the batch through generator,
 * teacher and student, forward and backward; a share that does not fit runs in
 * micro-batches of as many images as fit.
 *
 * @throws if not one image fits a heap, naming the parts and the figures.
 */
export function planTraining(
  teacher: LayersModel,
  generator: GeneratorFootprint,
  batchSize: number,
  workers: number,
  limitBytes: number | null,
): TrainingMemoryPlan {
  const generatorStateBytes = 4 * 4 * generator.weights;
  const teacherBytes = activationBytesPerImage(teacher);
  const generatorBytes = 4 * generator.activationsPerImage;
  const bytesPerImage = TRAINING_FACTOR * (generatorBytes + teacherBytes);
  const figures = { batchSize, generatorStateBytes, bytesPerImage };
  if (limitBytes === null) return { ...figures, microBatchSize: null };
  const usable = USABLE_SHARE * (limitBytes - memory().numBytes) - generatorStateBytes;
  const perHeap = Math.floor(usable / bytesPerImage);
  if (perHeap < 1) {
    throw new Error(
      `quantizeDataFree: training does not fit the '${getBackend()}' backend's ${mib(limitBytes)} MiB: the ` +
        `generator's weights, gradients and Adam states take ${mib(generatorStateBytes)} MiB ` +
        `(${generator.weights} weights) and each image about ${mib(bytesPerImage)} MiB ` +
        `(generator ${mib(generatorBytes)}, teacher '${teacher.name}' ${mib(teacherBytes)} MiB of layer outputs, ` +
        `x ${TRAINING_FACTOR} for teacher, student and generator passes), leaving no room for one image; ` +
        "use method 'mse' or 'adaround' (no generator), a smaller or narrower generator " +
        '(generator.generationSize, generator.baseChannels), a backend with more memory, or memoryLimitMB if ' +
        'the limit is larger',
    );
  }
  const share = Math.ceil(batchSize / workers);
  return { ...figures, microBatchSize: share > perHeap ? perHeap : null };
}

function mib(bytes: number): number {
  return Math.round(bytes / MIB);
}
