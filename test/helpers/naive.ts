/**
 * Naive TypeScript references (plain loops over NHWC Float32Arrays, PyTorch semantics) that vizoo's tfjs
 * ops are checked against on shapes and arguments the fixtures do not cover.
 */
import { tf, type Tensor } from '../../src/tf.js';

export interface Nhwc {
  data: Float32Array;
  shape: [number, number, number, number];
}

export async function toNhwc(t: Tensor): Promise<Nhwc> {
  return { data: (await t.data()) as Float32Array, shape: t.shape as [number, number, number, number] };
}

export const fromNhwc = (x: Nhwc): Tensor => tf.tensor4d(x.data, x.shape);

/** Deterministic pseudo-random values in [-1, 1). */
export function randomArray(n: number, seed: number): Float32Array {
  let s = seed >>> 0 || 1;
  return Float32Array.from({ length: n }, () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s / 2 ** 32) * 2 - 1;
  });
}

/**
 * PyTorch Conv2d on NHWC input; weight in PyTorch layout (O, I/groups, kh, kw) as a flat array.
 */
export function naiveConv2d(
  x: Nhwc,
  weight: Float32Array,
  o: { out: number; k: [number, number]; stride?: [number, number]; pad?: [number, number]; dil?: [number, number]; groups?: number; bias?: Float32Array },
): Nhwc {
  const [b, h, w, c] = x.shape;
  const [kh, kw] = o.k;
  const [sh, sw] = o.stride ?? [1, 1];
  const [ph, pw] = o.pad ?? [0, 0];
  const [dh, dw] = o.dil ?? [1, 1];
  const g = o.groups ?? 1;
  const inG = c / g;
  const outG = o.out / g;
  const oh = Math.floor((h + 2 * ph - dh * (kh - 1) - 1) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - dw * (kw - 1) - 1) / sw) + 1;
  const out = new Float32Array(b * oh * ow * o.out);
  for (let n = 0; n < b; n++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++)
        for (let oc = 0; oc < o.out; oc++) {
          const grp = Math.floor(oc / outG);
          let acc = o.bias ? o.bias[oc]! : 0;
          for (let ic = 0; ic < inG; ic++)
            for (let i = 0; i < kh; i++) {
              const iy = y * sh - ph + i * dh;
              if (iy < 0 || iy >= h) continue;
              for (let j = 0; j < kw; j++) {
                const ix = xx * sw - pw + j * dw;
                if (ix < 0 || ix >= w) continue;
                acc += x.data[((n * h + iy) * w + ix) * c + grp * inG + ic]! * weight[((oc * inG + ic) * kh + i) * kw + j]!;
              }
            }
          out[((n * oh + y) * ow + xx) * o.out + oc] = acc;
        }
  return { data: out, shape: [b, oh, ow, o.out] };
}

/** PyTorch bilinear interpolation of NHWC to (oh, ow). */
export function naiveResizeBilinear(x: Nhwc, oh: number, ow: number, alignCorners: boolean): Nhwc {
  const [b, h, w, c] = x.shape;
  const src = (d: number, inL: number, outL: number) => {
    if (alignCorners) return outL > 1 ? (d * (inL - 1)) / (outL - 1) : 0;
    return Math.max(0, ((d + 0.5) * inL) / outL - 0.5);
  };
  const out = new Float32Array(b * oh * ow * c);
  for (let n = 0; n < b; n++)
    for (let y = 0; y < oh; y++) {
      const sy = src(y, h, oh);
      const y0 = Math.min(Math.floor(sy), h - 1);
      const y1 = Math.min(y0 + 1, h - 1);
      const ly = sy - y0;
      for (let xx = 0; xx < ow; xx++) {
        const sx = src(xx, w, ow);
        const x0 = Math.min(Math.floor(sx), w - 1);
        const x1 = Math.min(x0 + 1, w - 1);
        const lx = sx - x0;
        for (let ch = 0; ch < c; ch++) {
          const v = (yy: number, xq: number) => x.data[((n * h + yy) * w + xq) * c + ch]!;
          const top = v(y0, x0) * (1 - lx) + v(y0, x1) * lx;
          const bot = v(y1, x0) * (1 - lx) + v(y1, x1) * lx;
          out[((n * oh + y) * ow + xx) * c + ch] = top * (1 - ly) + bot * ly;
        }
      }
    }
  return { data: out, shape: [b, oh, ow, c] };
}

/** PyTorch AvgPool2d (count_include_pad=True, floor mode). */
export function naiveAvgPool(x: Nhwc, k: number, s: number, p: number): Nhwc {
  const [b, h, w, c] = x.shape;
  const oh = Math.floor((h + 2 * p - k) / s) + 1;
  const ow = Math.floor((w + 2 * p - k) / s) + 1;
  const out = new Float32Array(b * oh * ow * c);
  for (let n = 0; n < b; n++)
    for (let y = 0; y < oh; y++)
      for (let xx = 0; xx < ow; xx++)
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let i = 0; i < k; i++)
            for (let j = 0; j < k; j++) {
              const iy = y * s - p + i;
              const ix = xx * s - p + j;
              if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc += x.data[((n * h + iy) * w + ix) * c + ch]!;
            }
          out[((n * oh + y) * ow + xx) * c + ch] = acc / (k * k);
        }
  return { data: out, shape: [b, oh, ow, c] };
}

/** PyTorch AdaptiveAvgPool2d: bin i spans [floor(i L / n), ceil((i + 1) L / n)). */
export function naiveAdaptiveAvgPool(x: Nhwc, n0: number, n1: number): Nhwc {
  const [b, h, w, c] = x.shape;
  const out = new Float32Array(b * n0 * n1 * c);
  for (let n = 0; n < b; n++)
    for (let i = 0; i < n0; i++)
      for (let j = 0; j < n1; j++) {
        const [h0, h1] = [Math.floor((i * h) / n0), Math.ceil(((i + 1) * h) / n0)];
        const [w0, w1] = [Math.floor((j * w) / n1), Math.ceil(((j + 1) * w) / n1)];
        for (let ch = 0; ch < c; ch++) {
          let acc = 0;
          for (let y = h0; y < h1; y++) for (let xx = w0; xx < w1; xx++) acc += x.data[((n * h + y) * w + xx) * c + ch]!;
          out[((n * n0 + i) * n1 + j) * c + ch] = acc / ((h1 - h0) * (w1 - w0));
        }
      }
  return { data: out, shape: [b, n0, n1, c] };
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

/**
 * Fills every parameter and buffer of `m` with seeded non-trivial values (BatchNorm running variances in
 * [0.5, 1.5], other tensors in [-1, 1) scaled by 0.5 around 1 for norm weights), so every branch matters.
 */
export function randomizeModule(m: import('../../src/index.js').Module, seed: number): void {
  let k = 0;
  for (const [key, p] of m.stateEntries()) {
    if (p.dtype === 'int64') continue;
    const r = randomArray(p.numel, seed * 7919 + ++k);
    if (key.endsWith('running_var')) p.setTorch(r.map((v) => 1 + 0.5 * v));
    else if (/(^|\.)(norm\d*|bn\d*|.*_bn.*|\d+)\.weight$/.test(key) && p.shape.length === 1) p.setTorch(r.map((v) => 1 + 0.3 * v));
    else p.setTorch(r.map((v) => 0.5 * v));
  }
}
