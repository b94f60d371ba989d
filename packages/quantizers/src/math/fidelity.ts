import {
  argMax,
  cast,
  equal,
  exp,
  logSoftmax,
  mean,
  mul,
  stack,
  sub,
  sum,
  type Tensor,
  tidy,
} from '@tensorflow/tfjs-core';

/**
 * Per image: 1 where `logits` and `teacherLogits` have the same top class (else 0), and
 * KL(softmax(teacherLogits) ‖ softmax(logits)) in nats. Both `[images]`.
 */
export function perImageFidelity(logits: Tensor, teacherLogits: Tensor): { agreement: Tensor; kl: Tensor } {
  return tidy(() => {
    const logTeacher = logSoftmax(teacherLogits);
    return {
      agreement: cast(equal(argMax(logits, -1), argMax(teacherLogits, -1)), 'float32'),
      kl: sum(mul(exp(logTeacher), sub(logTeacher, logSoftmax(logits))), -1),
    };
  });
}

/**
 * {@link perImageFidelity} averaged over the images: the share of images on which both
 * top classes agree, and the mean KL divergence in nats.
 */
export function meanFidelity(logits: Tensor, teacherLogits: Tensor): { agreement: number; kl: number } {
  const means = tidy(() => {
    const { agreement, kl } = perImageFidelity(logits, teacherLogits);
    return stack([mean(agreement), mean(kl)]);
  });
  const [agreement, kl] = means.dataSync() as Float32Array;
  means.dispose();
  return { agreement: agreement as number, kl: kl as number };
}
