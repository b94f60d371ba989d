import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test-support/backend.js';
import { moveImages, roll } from '../src/image_moves.js';

beforeAll(() => useBackend('cpu'));

// One 3x4 single-channel image, values 0..11 row by row.
const image = () => tf.reshape(tf.range(0, 12, 1, 'float32'), [1, 3, 4, 1]);
const rows = (x: tf.Tensor) => (tf.squeeze(x).arraySync() as number[][]).map((row) => row.join(' '));

describe('roll and moveImages', () => {
  it('roll moves element i to i + shift, the end wrapping to the start, either way', () => {
    tf.tidy(() => {
      const x = tf.tensor1d([0, 1, 2, 3, 4]);
      expect(Array.from(roll(x, 2, 0).dataSync())).toEqual([3, 4, 0, 1, 2]);
      expect(Array.from(roll(x, -1, 0).dataSync())).toEqual([1, 2, 3, 4, 0]);
      expect(Array.from(roll(x, 5, 0).dataSync())).toEqual([0, 1, 2, 3, 4]);
      expect(Array.from(roll(x, -7, 0).dataSync())).toEqual([2, 3, 4, 0, 1]);
    });
  });

  it('moveImages rolls rows and columns, then mirrors left to right', () => {
    tf.tidy(() => {
      expect(rows(moveImages(image(), 0, 0, false))).toEqual(['0 1 2 3', '4 5 6 7', '8 9 10 11']);
      // Down one row, left one column.
      expect(rows(moveImages(image(), 1, -1, false))).toEqual(['9 10 11 8', '1 2 3 0', '5 6 7 4']);
      expect(rows(moveImages(image(), 0, 0, true))).toEqual(['3 2 1 0', '7 6 5 4', '11 10 9 8']);
      expect(rows(moveImages(image(), -1, 1, true))).toEqual(['6 5 4 7', '10 9 8 11', '2 1 0 3']);
    });
  });

  it('passes gradients back to where each pixel came from', () => {
    tf.tidy(() => {
      // d/dx of sum(moved * weights) is weights moved back.
      const weights = tf.reshape(tf.range(1, 13, 1, 'float32'), [1, 3, 4, 1]);
      const grad = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(moveImages(x, 1, -1, true), weights)))(image());
      expect(Array.from(moveImages(grad, 1, -1, true).dataSync())).toEqual(Array.from(weights.dataSync()));
    });
  });
});
