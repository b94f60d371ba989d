// The generator step's cost with the teacher as tfjs-layers runs it (fused Conv2D /
// Dense, whose gradient also computes the teacher's filter gradients) and as TeacherTaps
// runs it (unfusedCopy: input gradients only). Official CIFAR generator, ResNet-20
// teacher, batch 64, wasm; the two variants alternate so drift in machine speed hits
// both. Prints one JSON line.
//   pnpm --filter @qimera/bench teacher-gradient [-- --repeats 4]
import '@tensorflow/tfjs-backend-wasm';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import { createGenerator, softCrossEntropy, unfusedCopy, useFastestBackend } from 'qimera';
import { positiveInteger, readScriptOptions, scriptArguments } from 'qimera/node';
import { buildResNet20 } from './resnets.js';
import { median } from './stats.js';

const repeats = readScriptOptions('teacher-gradient', () => {
  const { values } = parseArgs({ args: scriptArguments(), options: { repeats: { type: 'string', default: '4' } } });
  return positiveInteger(values.repeats, '--repeats') as number;
});
const batch = 64;

await useFastestBackend({ prefer: 'wasm', log: (m) => console.error(m) });
const fused = buildResNet20();
const unfused = unfusedCopy(fused);
const generator = createGenerator({ imageSize: 32, channels: 3, inputDim: 100 });
const variables = generator.trainableWeights.map((w) => w.read() as tf.Variable);
const z = tf.randomNormal([batch, 100], 0, 1, 'float32', 1);
const targets = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 2), 10);

/** Milliseconds of one generator gradient through `teacher`. */
function generatorStep(teacher: LayersModel): number {
  const start = performance.now();
  tf.tidy(() => {
    const { value } = tf.variableGrads(() => {
      const images = generator.apply(z, { training: true }) as tf.Tensor;
      return softCrossEntropy(teacher.apply(images, { training: false }) as tf.Tensor, targets);
    }, variables);
    value.dataSync();
  });
  return performance.now() - start;
}

generatorStep(fused);
generatorStep(unfused);
const [fusedMs, unfusedMs]: [number[], number[]] = [[], []];
for (let i = 0; i < repeats; i++) {
  fusedMs.push(generatorStep(fused));
  unfusedMs.push(generatorStep(unfused));
}
console.log(
  JSON.stringify({
    bench: 'generator-step',
    backend: 'wasm',
    batch,
    fusedTeacherMs: fusedMs.map(Math.round),
    unfusedTeacherMs: unfusedMs.map(Math.round),
    medianFusedMs: Math.round(median(fusedMs)),
    medianUnfusedMs: Math.round(median(unfusedMs)),
  }),
);
