/**
 * Elements of one image of a batch shape `[batch, ...]` (a symbolic tensor's or a
 * layer's): the product of the sizes after the batch axis, unknown sizes counting 1.
 */
export function elementsPerImage(shape: readonly (number | null)[]): number {
  return shape.slice(1).reduce<number>((n, d) => n * (d ?? 1), 1);
}
