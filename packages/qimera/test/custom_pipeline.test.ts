// The custom pipeline of docs/custom-pipeline.md, run on a tiny teacher: keep the two
// in step.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { tinySequential } from '../../../test-support/models.js';
import {
  ClassEmbedding,
  createDisentanglementMapping,
  createGenerator,
  distill,
  freezeActivationRanges,
  generateImages,
  mapSlots,
  quantizeModel,
  SeededRandom,
  sampleLabels,
  superposedLatent,
} from '../src/index.js';

beforeAll(() => useBackend('cpu'));

describe('custom pipeline (docs/custom-pipeline.md)', () => {
  it('assembles the parts by hand: mixed precision, frozen classifier embedding, own generator', async () => {
    const teacher = tinySequential(); // 8x8x3 images, 5 classes, Dense 'fc' over 64 features
    const student = await quantizeModel(teacher, {
      weightBits: 4,
      activationBits: 4,
      layers: { fc: { weightBits: 8 } },
    });
    const embedding = ClassEmbedding.fromClassifier(teacher, { trainable: false });
    const mapping = createDisentanglementMapping({ latentDim: embedding.dim, intermediateDim: 32 });
    const generator = createGenerator({ imageSize: 8, channels: 3, inputDim: 32, baseChannels: 16 });

    // Look at what the generator makes for a superposed batch before training.
    const labels = sampleLabels(new SeededRandom(3), {
      batchSize: 4,
      numClasses: 5,
      superposeProbability: 1,
      slots: 2,
    });
    const images = tf.tidy(() =>
      generateImages(
        generator,
        superposedLatent(labels, embedding, { noiseSeed: 5, mapSlots: (s) => mapSlots(mapping, s) }),
      ),
    );
    expect(images.shape).toEqual([4, 8, 8, 3]);

    const result = await distill({
      teacher,
      student,
      generator,
      embedding,
      mapping,
      iterations: 4,
      iterationsPerEpoch: 2,
      warmupEpochs: 1,
      batchSize: 8,
      superposeProbability: 0.5,
      temperature: 4,
      kdReduction: 'batchmean',
    });
    freezeActivationRanges(student);
    expect(result.iterations).toBe(4);
    expect((student.predict(images) as tf.Tensor).shape).toEqual([4, 5]);
  });
});
