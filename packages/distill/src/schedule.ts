/** Step decay: `base · gamma^(number of milestones ≤ epoch)` (PyTorch MultiStepLR). */
export function multiStepRate(base: number, epoch: number, milestones: readonly number[], gamma: number): number {
  return base * gamma ** milestones.filter((m) => epoch >= m).length;
}

/**
 * Cosine decay from `base` at step 0 towards 0 at step `steps` (PyTorch
 * CosineAnnealingLR with eta_min 0): `base · (1 + cos(π · step / steps)) / 2`. Steps at
 * or past `steps` get 0.
 */
export function cosineRate(base: number, step: number, steps: number): number {
  if (step >= steps) return 0;
  return (base * (1 + Math.cos((Math.PI * Math.max(0, step)) / steps))) / 2;
}
