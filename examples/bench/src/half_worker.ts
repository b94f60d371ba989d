// The second thread of the bench's data-parallel ResNet-20: holds its own copy of the
// network on its own wasm backend and runs, on the half batch it is sent, a forward or
// a gradient computation; applies the averaged gradients it is sent back.
import '@tensorflow/tfjs-backend-wasm';
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { useFastestBackend } from 'qimera';
import { type HalfReply, type HalfRequest, ResNetHalf } from './resnet_half.js';
import { buildResNet20 } from './resnets.js';

const port = parentPort;
if (!port) throw new Error('half_worker must run in a worker thread');
let half: ResNetHalf | null = null;

port.on('message', async (request: HalfRequest) => {
  try {
    const reply = await handle(request);
    port.postMessage(reply, 'grads' in reply ? reply.grads?.map((g) => g.buffer as ArrayBuffer) : []);
  } catch (error) {
    port.postMessage({ error: (error as Error).stack ?? String(error) } satisfies HalfReply);
  }
});

async function handle(request: HalfRequest): Promise<HalfReply> {
  if (request.type === 'init') {
    await useFastestBackend({ prefer: request.backend, log: () => {} });
    const net = buildResNet20();
    net.setWeights(net.weights.map((w, i) => tf.tensor(request.weights[i] as Float32Array, w.shape as number[])));
    half = new ResNetHalf(net, request.learningRate);
    return {};
  }
  if (!half) throw new Error('half_worker: not initialised');
  const active = half;
  if (request.type === 'forward') {
    tf.tidy(() => active.forward(tf.tensor(request.images, request.shape)));
    return {};
  }
  if (request.type === 'apply') {
    active.apply(request.grads);
    return {};
  }
  const n = request.shape[0] as number;
  const grads = tf.tidy(() =>
    active.gradients(
      tf.tensor(request.images, request.shape),
      tf.tensor2d(request.labels, [n, request.labels.length / n]),
    ),
  );
  if (request.type === 'grads') return { grads };
  // 'step': a training step of this thread's own, nothing sent back.
  active.apply(grads);
  return {};
}
