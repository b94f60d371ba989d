/** Thrown when a model or config cannot be quantized; lists every problem found. */
export class QuantizationError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot quantize the model:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'QuantizationError';
  }
}
