import { describe, expect, it } from 'vitest';
import { CIFAR10_RECORD_BYTES, parseCifar10 } from '../src/index.js';

/** Two records: label 3 with R=10, G=20, B=30 except pixel (0, 1) = (255, 0, 51); label 9 all zero. */
function twoRecords(): Uint8Array {
  const bytes = new Uint8Array(2 * CIFAR10_RECORD_BYTES);
  bytes[0] = 3;
  bytes.fill(10, 1, 1 + 1024);
  bytes.fill(20, 1 + 1024, 1 + 2048);
  bytes.fill(30, 1 + 2048, 1 + 3072);
  bytes[1 + 1] = 255; // red plane, row 0, column 1
  bytes[1 + 1024 + 1] = 0;
  bytes[1 + 2048 + 1] = 51;
  bytes[CIFAR10_RECORD_BYTES] = 9;
  return bytes;
}

describe('parseCifar10', () => {
  it('interleaves the R, G, B planes into NHWC and reads labels', () => {
    const batch = parseCifar10(twoRecords(), { normalization: null });
    expect(batch.count).toBe(2);
    expect(batch.shape).toEqual([2, 32, 32, 3]);
    expect(Array.from(batch.labels)).toEqual([3, 9]);
    const px = (n: number, p: number) => Array.from(batch.images.subarray((n * 1024 + p) * 3, (n * 1024 + p) * 3 + 3));
    [10 / 255, 20 / 255, 30 / 255].forEach((v, c) => expect(px(0, 0)[c]).toBeCloseTo(v, 6));
    [1, 0, 0.2].forEach((v, c) => expect(px(0, 1)[c]).toBeCloseTo(v, 6));
    expect(px(1, 1023)).toEqual([0, 0, 0]);
  });

  it('normalises per channel with the CIFAR-10 statistics by default', () => {
    const batch = parseCifar10(twoRecords(), { offset: 1 });
    expect(batch.count).toBe(1);
    expect(Array.from(batch.labels)).toEqual([9]);
    // A zero pixel becomes -mean / std per channel.
    [-0.4914 / 0.247, -0.4822 / 0.2435, -0.4465 / 0.2616].forEach((v, c) => expect(batch.images[c]).toBeCloseTo(v, 5));
  });

  it('rejects partial records, out-of-range requests and bad labels', () => {
    expect(() => parseCifar10(new Uint8Array(CIFAR10_RECORD_BYTES + 5))).toThrow(
      /whole 3073-byte records; got 3078 bytes \(5 left over/,
    );
    expect(() => parseCifar10(twoRecords(), { offset: 1, count: 2 })).toThrow(
      /records 1\.\.2 requested, the data holds 2/,
    );
    const bad = twoRecords();
    bad[0] = 10;
    expect(() => parseCifar10(bad)).toThrow(/record 0 has label 10/);
  });
});
