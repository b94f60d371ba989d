/** Step decay: `base · gamma^(number of milestones ≤ epoch)` (PyTorch MultiStepLR). */
export function multiStepRate(base: number, epoch: number, milestones: readonly number[], gamma: number): number {
  return base * gamma ** milestones.filter((m) => epoch >= m).length;
}
