// Bicubic resize with torch's F.interpolate(mode='bicubic', align_corners=False) semantics: values
// worked out by hand (A = -0.75, half-pixel source, edge clamp) and a direct 16-tap 2-D evaluation.
import { describe, expect, it } from 'vitest';
import { F, tf } from '../../src/index.js';

const run = (data: number[], shape: [number, number, number, number], size: [number, number], alignCorners = false) =>
  Array.from(F.resizeBicubic(tf.tensor4d(data, shape), size, alignCorners).dataSync());

describe('resizeBicubic', () => {
  it('upsamples 2 -> 4 with edge clamping and a negative source coordinate (hand-computed)', () => {
    // out[0]: src -0.25, taps -2..1 clamped to 0,0,0,1 with weights -0.03515625, 0.26171875, 0.87890625, -0.10546875.
    const out = run([1, 3], [1, 1, 2, 1], [1, 4]);
    [0.7890625, 1.453125, 2.546875, 3.2109375].forEach((v, i) => expect(out[i]).toBeCloseTo(v, 6));
  });

  it('downsamples 4 -> 2 (hand-computed: src 0.5 and 2.5, weights -0.09375, 0.59375, 0.59375, -0.09375)', () => {
    const out = run([0, 1, 2, 3], [1, 4, 1, 1], [2, 1]);
    expect(out[0]).toBeCloseTo(0.40625, 6);
    expect(out[1]).toBeCloseTo(2.59375, 6);
  });

  it('keeps constants and is the identity at the same size', () => {
    expect(run(Array(6).fill(2.5), [1, 2, 3, 1], [5, 4]).every((v) => Math.abs(v - 2.5) < 1e-6)).toBe(true);
    const x = Array.from({ length: 12 }, (_, i) => Math.sin(i));
    expect(run(x, [1, 3, 4, 1], [3, 4])).toEqual(x.map((v) => Math.fround(v)));
  });

  it('equals a direct 16-tap evaluation per output pixel (batch 2, 3 channels, 3x5 -> 7x4 and 6x6 -> 4x9)', () => {
    const A = -0.75;
    const cubic = (x: number) => {
      const a = Math.abs(x);
      return a <= 1 ? ((A + 2) * a - (A + 3)) * a * a + 1 : a < 2 ? ((A * a - 5 * A) * a + 8 * A) * a - 4 * A : 0;
    };
    for (const [h, w, oh, ow] of [
      [3, 5, 7, 4],
      [6, 6, 4, 9],
    ] as const) {
      const c = 3;
      const data = Array.from({ length: 2 * h * w * c }, (_, i) => Math.cos(i * 0.7) + (i % 5) * 0.1);
      const out = run(data, [2, h, w, c], [oh, ow]);
      for (let b = 0; b < 2; b++)
        for (let i = 0; i < oh; i++)
          for (let j = 0; j < ow; j++)
            for (let ch = 0; ch < c; ch++) {
              const sy = ((i + 0.5) * h) / oh - 0.5;
              const sx = ((j + 0.5) * w) / ow - 0.5;
              let acc = 0;
              for (let m = -1; m <= 2; m++)
                for (let n = -1; n <= 2; n++) {
                  const y = Math.floor(sy) + m;
                  const x = Math.floor(sx) + n;
                  const v = data[((b * h + Math.min(Math.max(y, 0), h - 1)) * w + Math.min(Math.max(x, 0), w - 1)) * c + ch]!;
                  acc += cubic(sy - y) * cubic(sx - x) * v;
                }
              expect(Math.abs(out[((b * oh + i) * ow + j) * c + ch]! - acc)).toBeLessThan(1e-5);
            }
    }
  });

  it('align_corners=True maps corners to corners', () => {
    const out = run([0, 1, 2], [1, 1, 3, 1], [1, 5], true);
    expect(out[0]).toBeCloseTo(0, 6);
    expect(out[2]).toBeCloseTo(1, 6);
    expect(out[4]).toBeCloseTo(2, 6);
  });
});
