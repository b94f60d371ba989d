/** A model the integer reference cannot run; lists every problem found. */
export class IntegerInferenceError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot run the model in integer arithmetic:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'IntegerInferenceError';
  }
}
