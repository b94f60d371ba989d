import { argMax, cast, equal, exp, logSoftmax, mul, sub, sum, type Tensor, tidy } from '@tensorflow/tfjs-core';

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
