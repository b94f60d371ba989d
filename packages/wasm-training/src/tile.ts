import {
  add,
  type KernelConfig,
  reshape,
  type TensorInfo,
  Tile,
  type TileAttrs,
  type TileInputs,
  zeros,
} from '@tensorflow/tfjs-core';
import { withFastPath } from './fast_path.js';
import { composeKernel } from './kernel_io.js';

// XNNPACK's broadcasting add handles up to 6 dimensions.
const MAX_BROADCAST_RANK = 6;

/**
 * Tile as a broadcasting add of zeros: the output laid out as `[r0, d0, r1, d1, ...]`
 * is `x` reshaped to `[1, d0, 1, d1, ...]` plus zeros of shape `[r0, 1, r1, 1, ...]`,
 * after dropping size-1 factors and merging neighbours of the same kind. tfjs-wasm's
 * own Tile is a per-element loop, and the BatchNorm gradient tiles the inverse
 * standard deviation to the full activation shape at every step. Other dtypes, and
 * layouts that need more than 6 dimensions, use the original kernel.
 */
export function fasterTileConfig(): KernelConfig {
  return withFastPath(Tile, (args) => {
    const { x } = args.inputs as TileInputs;
    const { reps } = args.attrs as unknown as TileAttrs;
    const info = x as TensorInfo;
    const factors = broadcastFactors(info.shape, reps);
    if (info.dtype !== 'float32' || factors.length > MAX_BROADCAST_RANK) return null;
    const outShape = info.shape.map((d, i) => d * (reps[i] as number));
    return composeKernel(args.backend, [info], (xt) => {
      const spread = reshape(
        xt,
        factors.map((f) => (f.rep ? 1 : f.size)),
      );
      const copies = zeros(factors.map((f) => (f.rep ? f.size : 1)));
      return reshape(add(spread, copies), outShape);
    });
  });
}

interface Factor {
  size: number;
  rep: boolean;
}

/** The output's factors in memory order, without 1s, neighbours of a kind merged. */
export function broadcastFactors(shape: readonly number[], reps: readonly number[]): Factor[] {
  const factors: Factor[] = [];
  shape.forEach((dim, i) => {
    for (const factor of [
      { size: reps[i] as number, rep: true },
      { size: dim, rep: false },
    ]) {
      if (factor.size === 1) continue;
      const last = factors[factors.length - 1];
      if (last && last.rep === factor.rep) last.size *= factor.size;
      else factors.push(factor);
    }
  });
  return factors.length > 0 ? factors : [{ size: 1, rep: false }];
}
