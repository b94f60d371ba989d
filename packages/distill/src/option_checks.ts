// Checks of options shared by synthesis, training and the umbrella: each names the option it rejects.
import { STARTING_NOISES, type StartingNoise } from './starting_noise.js';

/**
 * Checks a loss term's weight (finite, >= 0: 0 turns the term off) and returns it.
 * @param what names the option in the error.
 */
export function checkLossWeight(weight: number, what: string): number {
  if (!(Number.isFinite(weight) && weight >= 0)) {
    throw new RangeError(`${what} must be a finite number >= 0, got ${weight}`);
  }
  return weight;
}

/**
 * Checks a jitter (a whole number of pixels, 0 to less than `side`, the image's shorter
 * side) and returns it.
 * @param what names the option in the error.
 */
export function checkJitter(jitter: number, side: number, what: string): number {
  if (!(Number.isInteger(jitter) && jitter >= 0 && jitter < side)) {
    throw new RangeError(
      `${what} must be a whole number of pixels from 0 to less than the image side (${side}), got ${jitter}`,
    );
  }
  return jitter;
}

/**
 * Checks an input range `[min, max]` (finite, min < max) and returns it.
 * @param what names the option in the error.
 */
export function checkInputRange(range: readonly [number, number], what: string): readonly [number, number] {
  const valid = Array.isArray(range) && range.length === 2 && range[0] < range[1];
  if (!(valid && Number.isFinite(range[0]) && Number.isFinite(range[1]))) {
    throw new RangeError(`${what} must be [min, max] with finite min < max, got ${JSON.stringify(range)}`);
  }
  return range;
}

/**
 * Checks a finite number > 0 (a learning rate, a temperature) and returns it.
 * @param what names the option in the error.
 */
export function checkPositive(value: number, what: string): number {
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`${what} must be a finite number > 0, got ${value}`);
  }
  return value;
}

/**
 * Checks a starting noise (one of {@link STARTING_NOISES}) and returns it.
 * @param what names the option in the error.
 */
export function checkStartingNoise(noise: StartingNoise, what: string): StartingNoise {
  if (!STARTING_NOISES.includes(noise)) {
    throw new RangeError(
      `${what} must be one of ${STARTING_NOISES.map((k) => `'${k}'`).join(', ')}, got ${JSON.stringify(noise)}`,
    );
  }
  return noise;
}
