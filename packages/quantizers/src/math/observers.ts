import {
  add,
  concat,
  div,
  greater,
  maximum,
  minimum,
  mul,
  pow,
  scalar,
  slice,
  sub,
  type Tensor,
  tidy,
  where,
} from '@tensorflow/tfjs-core';

/**
 * How an activation quantizer turns the batches it sees into its range.
 * - `'ema'`: bias-corrected exponential moving average of batch min and max (Qimera).
 * - `'minmax'`: the running extreme over every batch seen.
 * - `'mse'`: the same moving average of each batch's error-minimising clipped range
 *   (see `mseClipRange`) instead of its extremes: at 4 bits and below a few large
 *   activations would otherwise take most of the grid. Costs a search per batch, so it
 *   is meant for calibration rather than for every training forward.
 */
export type ObserverKind = 'ema' | 'minmax' | 'mse';

/** The observers, for validation and docs. */
export const OBSERVER_KINDS: readonly ObserverKind[] = ['ema', 'minmax', 'mse'];

/**
 * One observer step on `[min, max]` pairs (tensors of shape [2]); `'mse'` averages
 * like `'ema'` (its batch range is the clipped one).
 *
 * EMA with decay β after `t = count + 1` batches keeps the bias-corrected average
 * `c_t = m_t / (1 - β^t)` of `m_t = β m_{t-1} + (1 - β) x_t`, `m_0 = 0`. Only `c` and
 * `count` are stored, so the update is written in `c`:
 * `c_t = β (1 - β^(t-1)) / (1 - β^t) · c_{t-1} + (1 - β) / (1 - β^t) · x_t`,
 * which gives `c_1 = x_1` and weighs later batches exactly as PyTorch-style EMA with
 * Adam-style bias correction would. (The official Qimera code divides by `1 - β^t` on
 * the already-corrected value at every step, which compounds; this does not.)
 *
 * @param previous the current range `[min, max]`; ignored when `count` is 0.
 * @param batch this batch's `[min, max]`.
 * @param count batches observed before this one (scalar tensor).
 */
export function observeRange(
  kind: ObserverKind,
  previous: Tensor,
  batch: Tensor,
  count: Tensor,
  decay: number,
): Tensor {
  return tidy(() => {
    if (kind === 'minmax') {
      const merged = mergeExtremes(previous, batch);
      return where(greater(count, 0), merged, batch);
    }
    const beta = scalar(decay);
    const correctionBefore = sub(1, pow(beta, count));
    const correctionAfter = sub(1, pow(beta, add(count, 1)));
    const keep = div(mul(beta, correctionBefore), correctionAfter);
    const take = div(sub(1, beta), correctionAfter);
    return add(mul(keep, previous), mul(take, batch));
  });
}

function mergeExtremes(a: Tensor, b: Tensor): Tensor {
  const lower = minimum(slice(a, 0, 1), slice(b, 0, 1));
  const upper = maximum(slice(a, 1, 1), slice(b, 1, 1));
  return concat([lower, upper]);
}
