// A small RGB raster with lines, rectangles, 5x7 bitmap text and PNG output: enough
// for the benchmark's plots and image grids without a native canvas dependency.
import { deflateSync } from 'node:zlib';

export type Rgb = readonly [number, number, number];

/** Series colours of the plots, in order. */
export const COLORS: Rgb[] = [
  [31, 119, 180],
  [214, 39, 40],
  [44, 160, 44],
  [148, 103, 189],
  [255, 127, 14],
  [23, 190, 207],
  [140, 86, 75],
  [227, 119, 194],
  [188, 189, 34],
  [0, 90, 50],
  [90, 90, 90],
  [120, 0, 60],
  [0, 0, 150],
];
export const GREY: Rgb = [150, 150, 150];
export const INK: Rgb = [30, 30, 30];

/** The pixel box a plot's data area takes. */
export interface PlotArea {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

/** One axis: its data range, tick step, where a value goes in pixels, and its tick label. */
export interface Axis {
  from: number;
  to: number;
  step: number;
  at: (value: number) => number;
  label: (value: number) => string;
}

/** Grid lines and tick labels at every multiple of each axis' step, then the two axis lines. */
export function drawAxes(raster: Raster, plot: PlotArea, x: Axis, y: Axis): void {
  const ticks = (axis: Axis) => {
    const values: number[] = [];
    for (let v = Math.ceil(axis.from / axis.step) * axis.step; v <= axis.to + axis.step * 1e-6; v += axis.step)
      values.push(v);
    return values;
  };
  for (const v of ticks(x)) {
    raster.line(x.at(v), plot.top, x.at(v), plot.bottom, [230, 230, 230]);
    raster.text(x.at(v) - Raster.textWidth(x.label(v)) / 2, plot.bottom + 10, x.label(v), INK);
  }
  for (const v of ticks(y)) {
    raster.line(plot.left, y.at(v), plot.right, y.at(v), [230, 230, 230]);
    raster.text(plot.left - 10 - Raster.textWidth(y.label(v)), y.at(v) - 7, y.label(v), INK);
  }
  raster.line(plot.left, plot.bottom, plot.right, plot.bottom, INK, 2);
  raster.line(plot.left, plot.top, plot.left, plot.bottom, INK, 2);
}

/** A round tick step giving about 5-10 ticks over `span`. */
export function niceStep(span: number): number {
  const raw = span / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  return ([1, 2, 5, 10].find((f) => f * power >= raw) ?? 10) * power;
}

// 5x7 glyphs, one 5-bit row per entry (most significant bit on the left).
const GLYPHS: Record<string, readonly number[]> = {
  ' ': [0, 0, 0, 0, 0, 0, 0],
  '0': [14, 17, 19, 21, 25, 17, 14],
  '1': [4, 12, 4, 4, 4, 4, 14],
  '2': [14, 17, 1, 2, 4, 8, 31],
  '3': [31, 2, 4, 2, 1, 17, 14],
  '4': [2, 6, 10, 18, 31, 2, 2],
  '5': [31, 16, 30, 1, 1, 17, 14],
  '6': [6, 8, 16, 30, 17, 17, 14],
  '7': [31, 1, 2, 4, 8, 8, 8],
  '8': [14, 17, 17, 14, 17, 17, 14],
  '9': [14, 17, 17, 15, 1, 2, 12],
  A: [14, 17, 17, 31, 17, 17, 17],
  B: [30, 17, 17, 30, 17, 17, 30],
  C: [14, 17, 16, 16, 16, 17, 14],
  D: [28, 18, 17, 17, 17, 18, 28],
  E: [31, 16, 16, 30, 16, 16, 31],
  F: [31, 16, 16, 30, 16, 16, 16],
  G: [14, 17, 16, 23, 17, 17, 15],
  H: [17, 17, 17, 31, 17, 17, 17],
  I: [14, 4, 4, 4, 4, 4, 14],
  J: [7, 2, 2, 2, 2, 18, 12],
  K: [17, 18, 20, 24, 20, 18, 17],
  L: [16, 16, 16, 16, 16, 16, 31],
  M: [17, 27, 21, 21, 17, 17, 17],
  N: [17, 17, 25, 21, 19, 17, 17],
  O: [14, 17, 17, 17, 17, 17, 14],
  P: [30, 17, 17, 30, 16, 16, 16],
  Q: [14, 17, 17, 17, 21, 18, 13],
  R: [30, 17, 17, 30, 20, 18, 17],
  S: [15, 16, 16, 14, 1, 1, 30],
  T: [31, 4, 4, 4, 4, 4, 4],
  U: [17, 17, 17, 17, 17, 17, 14],
  V: [17, 17, 17, 17, 17, 10, 4],
  W: [17, 17, 17, 21, 21, 21, 10],
  X: [17, 17, 10, 4, 10, 17, 17],
  Y: [17, 17, 17, 10, 4, 4, 4],
  Z: [31, 1, 2, 4, 8, 16, 31],
  '.': [0, 0, 0, 0, 0, 12, 12],
  ',': [0, 0, 0, 0, 12, 4, 8],
  '%': [24, 25, 2, 4, 8, 19, 3],
  '-': [0, 0, 0, 31, 0, 0, 0],
  '+': [0, 4, 4, 31, 4, 4, 0],
  '/': [0, 1, 2, 4, 8, 16, 0],
  '(': [2, 4, 8, 8, 8, 4, 2],
  ')': [8, 4, 2, 2, 2, 4, 8],
  ':': [0, 12, 12, 0, 12, 12, 0],
  '=': [0, 0, 31, 0, 31, 0, 0],
  '#': [10, 10, 31, 10, 31, 10, 10],
};

export class Raster {
  readonly pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.pixels = new Uint8Array(width * height * 3);
    this.fillRect(0, 0, width, height, background);
  }

  set(x: number, y: number, color: Rgb): void {
    const [px, py] = [Math.round(x), Math.round(y)];
    if (px < 0 || py < 0 || px >= this.width || py >= this.height) return;
    this.pixels.set(color, (py * this.width + px) * 3);
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    for (let j = Math.max(0, Math.round(y)); j < Math.min(this.height, Math.round(y + h)); j++) {
      for (let i = Math.max(0, Math.round(x)); i < Math.min(this.width, Math.round(x + w)); i++) {
        this.pixels.set(color, (j * this.width + i) * 3);
      }
    }
  }

  /** A line `thickness` pixels wide; `dash` > 0 draws dashes of that length. */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1, dash = 0): void {
    const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
    const half = (thickness - 1) / 2;
    for (let s = 0; s <= steps; s++) {
      if (dash > 0 && Math.floor(s / dash) % 2 === 1) continue;
      const t = s / steps;
      this.fillRect(x0 + (x1 - x0) * t - half, y0 + (y1 - y0) * t - half, thickness, thickness, color);
    }
  }

  /** Text in the 5x7 font (upper case), top-left at (x, y), each font pixel `scale` wide. */
  text(x: number, y: number, value: string, color: Rgb, scale = 2): void {
    [...value.toUpperCase()].forEach((char, k) => {
      const rows = GLYPHS[char] ?? GLYPHS['#'];
      rows?.forEach((bits, row) => {
        for (let col = 0; col < 5; col++) {
          if (bits & (16 >> col)) this.fillRect(x + (k * 6 + col) * scale, y + row * scale, scale, scale, color);
        }
      });
    });
  }

  /** Width in pixels of {@link text} output. */
  static textWidth(value: string, scale = 2): number {
    return value.length * 6 * scale - scale;
  }

  /** The raster as a PNG file (8-bit RGB, no interlace). */
  toPng(): Uint8Array {
    const rowBytes = this.width * 3;
    const raw = new Uint8Array((rowBytes + 1) * this.height);
    for (let y = 0; y < this.height; y++) {
      raw.set(this.pixels.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1); // filter 0
    }
    const header = new Uint8Array(13);
    const view = new DataView(header.buffer);
    view.setUint32(0, this.width);
    view.setUint32(4, this.height);
    header.set([8, 2, 0, 0, 0], 8); // 8-bit depth, RGB, deflate, no filter method, no interlace
    const signature = [137, 80, 78, 71, 13, 10, 26, 10];
    return Buffer.concat([
      Uint8Array.from(signature),
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(raw)),
      chunk('IEND', new Uint8Array(0)),
    ]);
  }
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(
    [...type].map((c) => c.charCodeAt(0)),
    4,
  );
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
