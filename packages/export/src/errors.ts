/** A model that cannot be exported; lists every problem found. */
export class ExportError extends Error {
  constructor(readonly problems: string[]) {
    super(`cannot export the model:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ExportError';
  }
}

/** An exported artifact that cannot be loaded; names where it came from and why. */
export class ArtifactError extends Error {
  constructor(
    readonly source: string,
    readonly problem: string,
  ) {
    super(`${source}: ${problem}`);
    this.name = 'ArtifactError';
  }
}
