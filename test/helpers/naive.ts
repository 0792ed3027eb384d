/** Naive float64 reference implementations with PyTorch semantics (NCHW), for testing the tfjs paths. */
import { tf } from '../../src/tf.js';
import type { Module } from '../../src/nn/module.js';
import { toFloat32 } from '../../src/hub/host_tensor.js';

export interface Nd {
  shape: number[];
  data: Float64Array;
}

export function randn(shape: number[], seed: number): Nd {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.sqrt(-2 * Math.log(next() + 1e-12)) * Math.cos(2 * Math.PI * next());
  return { shape, data };
}

/** PyTorch Conv2d (NCHW, OIHW weight). */
export function conv2dNchw(x: Nd, w: Nd, bias: Nd | null, o: { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number }): Nd {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const [O, Ig, KH, KW] = w.shape as [number, number, number, number];
  const [sh, sw] = o.stride;
  const [ph, pw] = o.padding;
  const [dh, dw] = o.dilation;
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const og = O / o.groups;
  const out = new Float64Array(B * O * OH * OW);
  for (let b = 0; b < B; b++)
    for (let oc = 0; oc < O; oc++) {
      const g = Math.floor(oc / og);
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let acc = bias ? bias.data[oc]! : 0;
          for (let ic = 0; ic < Ig; ic++)
            for (let ky = 0; ky < KH; ky++)
              for (let kx = 0; kx < KW; kx++) {
                const iy = oy * sh - ph + ky * dh;
                const ix = ox * sw - pw + kx * dw;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += x.data[((b * C + g * Ig + ic) * H + iy) * W + ix]! * w.data[((oc * Ig + ic) * KH + ky) * KW + kx]!;
              }
          out[((b * O + oc) * OH + oy) * OW + ox] = acc;
        }
    }
  return { shape: [B, O, OH, OW], data: out };
}

/** PyTorch avg_pool2d (NCHW) with count_include_pad and ceil_mode. */
export function avgPoolNchw(x: Nd, k: number, s: number, p: number, countIncludePad: boolean, ceilMode: boolean): Nd {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const outLen = (L: number) => {
    let o = (ceilMode ? Math.ceil((L + 2 * p - k) / s) : Math.floor((L + 2 * p - k) / s)) + 1;
    if (ceilMode && (o - 1) * s >= L + p) o--;
    return o;
  };
  const OH = outLen(H);
  const OW = outLen(W);
  const out = new Float64Array(B * C * OH * OW);
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let oy = 0; oy < OH; oy++)
        for (let ox = 0; ox < OW; ox++) {
          let hs = oy * s - p;
          let ws = ox * s - p;
          let he = Math.min(hs + k, H + p);
          let we = Math.min(ws + k, W + p);
          const poolSize = (he - hs) * (we - ws);
          hs = Math.max(hs, 0);
          ws = Math.max(ws, 0);
          he = Math.min(he, H);
          we = Math.min(we, W);
          let acc = 0;
          for (let y = hs; y < he; y++) for (let xx = ws; xx < we; xx++) acc += x.data[((b * C + c) * H + y) * W + xx]!;
          out[((b * C + c) * OH + oy) * OW + ox] = acc / (countIncludePad ? poolSize : (he - hs) * (we - ws));
        }
  return { shape: [B, C, OH, OW], data: out };
}

/** F.interpolate(mode='bilinear') on NCHW. */
export function bilinearNchw(x: Nd, oh: number, ow: number, alignCorners: boolean): Nd {
  const [B, C, H, W] = x.shape as [number, number, number, number];
  const out = new Float64Array(B * C * oh * ow);
  const src = (d: number, inL: number, outL: number) => {
    if (alignCorners) return outL > 1 ? (d * (inL - 1)) / (outL - 1) : 0;
    return Math.max(0, ((d + 0.5) * inL) / outL - 0.5);
  };
  for (let b = 0; b < B; b++)
    for (let c = 0; c < C; c++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          const sy = src(y, H, oh);
          const sx = src(xx, W, ow);
          const y0 = Math.min(Math.floor(sy), H - 1);
          const x0 = Math.min(Math.floor(sx), W - 1);
          const y1 = Math.min(y0 + 1, H - 1);
          const x1 = Math.min(x0 + 1, W - 1);
          const ly = sy - y0;
          const lx = sx - x0;
          const at = (yy: number, xq: number) => x.data[((b * C + c) * H + yy) * W + xq]!;
          out[((b * C + c) * oh + y) * ow + xx] = (1 - ly) * ((1 - lx) * at(y0, x0) + lx * at(y0, x1)) + ly * ((1 - lx) * at(y1, x0) + lx * at(y1, x1));
        }
  return { shape: [B, C, oh, ow], data: out };
}

export const toNhwcTensor = (x: Nd) => tf.transpose(tf.tensor(Float32Array.from(x.data), x.shape), [0, 2, 3, 1]);

/** Max |a - b| between an NHWC tensor and an NCHW reference. */
export async function maxDiffNhwc(t: tf.Tensor, ref: Nd): Promise<number> {
  const nchw = tf.transpose(t, [0, 3, 1, 2]);
  expectShape(nchw.shape, ref.shape);
  const d = (await nchw.data()) as Float32Array;
  nchw.dispose();
  let m = 0;
  for (let i = 0; i < d.length; i++) m = Math.max(m, Math.abs(d[i]! - ref.data[i]!));
  return m;
}

function expectShape(a: number[], b: number[]): void {
  if (a.length !== b.length || a.some((d, i) => d !== b[i])) throw new Error(`shape [${a}] != reference [${b}]`);
}

/* NHWC views of the references above (Float32 in and out). */

export interface Nhwc {
  data: Float32Array;
  shape: [number, number, number, number];
}

export async function toNhwc(t: tf.Tensor): Promise<Nhwc> {
  return { data: (await t.data()) as Float32Array, shape: t.shape as [number, number, number, number] };
}

export const fromNhwc = (x: Nhwc): tf.Tensor => tf.tensor4d(x.data, x.shape);

function nhwcToNd(x: Nhwc): Nd {
  const [b, h, w, c] = x.shape;
  const data = new Float64Array(x.data.length);
  for (let n = 0; n < b; n++) for (let y = 0; y < h; y++) for (let q = 0; q < w; q++) for (let k = 0; k < c; k++) data[((n * c + k) * h + y) * w + q] = x.data[((n * h + y) * w + q) * c + k]!;
  return { shape: [b, c, h, w], data };
}

function ndToNhwc(x: Nd): Nhwc {
  const [b, c, h, w] = x.shape as [number, number, number, number];
  const data = new Float32Array(x.data.length);
  for (let n = 0; n < b; n++) for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let q = 0; q < w; q++) data[((n * h + y) * w + q) * c + k] = x.data[((n * c + k) * h + y) * w + q]!;
  return { shape: [b, h, w, c], data };
}

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

/** PyTorch Conv2d on NHWC input; weight in PyTorch layout (O, I/groups, kh, kw) as a flat array. */
export function naiveConv2d(
  x: Nhwc,
  weight: Float32Array,
  o: { out: number; k: [number, number]; stride?: [number, number]; pad?: [number, number]; dil?: [number, number]; groups?: number; bias?: Float32Array },
): Nhwc {
  const g = o.groups ?? 1;
  const w: Nd = { shape: [o.out, x.shape[3] / g, o.k[0], o.k[1]], data: Float64Array.from(weight) };
  const b = o.bias ? { shape: [o.out], data: Float64Array.from(o.bias) } : null;
  return ndToNhwc(conv2dNchw(nhwcToNd(x), w, b, { stride: o.stride ?? [1, 1], padding: o.pad ?? [0, 0], dilation: o.dil ?? [1, 1], groups: g }));
}

/** PyTorch bilinear interpolation of NHWC to (oh, ow). */
export function naiveResizeBilinear(x: Nhwc, oh: number, ow: number, alignCorners: boolean): Nhwc {
  return ndToNhwc(bilinearNchw(nhwcToNd(x), oh, ow, alignCorners));
}

/** PyTorch AvgPool2d (count_include_pad=True, floor mode). */
export function naiveAvgPool(x: Nhwc, k: number, s: number, p: number): Nhwc {
  return ndToNhwc(avgPoolNchw(nhwcToNd(x), k, s, p, true, false));
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

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

/**
 * Fills every parameter and buffer of `m` with seeded non-trivial values (BatchNorm running variances in
 * [0.5, 1.5], norm weights around 1, other tensors in [-0.5, 0.5)), so every branch matters.
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

/* Dense float64 helpers for attention references (tokens as row-major matrices). */

export type Mat = Float64Array;

/** The module's state dict as float64 arrays in PyTorch layout. */
export async function weightsOf(m: Module): Promise<Map<string, { shape: number[]; data: Float64Array }>> {
  const out = new Map<string, { shape: number[]; data: Float64Array }>();
  for (const [k, v] of await m.stateDict()) out.set(k, { shape: v.shape, data: Float64Array.from(toFloat32(v)) });
  return out;
}

/** rows (n, in) -> (n, out) with a PyTorch (out, in) weight. */
export function linear(x: Mat, n: number, w: { shape: number[]; data: Mat }, b?: { data: Mat }): Mat {
  const [o, i] = w.shape as [number, number];
  const y = new Float64Array(n * o);
  for (let r = 0; r < n; r++)
    for (let a = 0; a < o; a++) {
      let s = b ? b.data[a]! : 0;
      for (let c = 0; c < i; c++) s += x[r * i + c]! * w.data[a * i + c]!;
      y[r * o + a] = s;
    }
  return y;
}

/** softmax(q k^T * scale) v for q (nq, d), k (nk, d), v (nk, dv). */
export function attention(q: Mat, k: Mat, v: Mat, nq: number, nk: number, d: number, dv: number, scale: number): Mat {
  const out = new Float64Array(nq * dv);
  const s = new Float64Array(nk);
  for (let a = 0; a < nq; a++) {
    let mx = -Infinity;
    for (let b = 0; b < nk; b++) {
      let t = 0;
      for (let c = 0; c < d; c++) t += q[a * d + c]! * k[b * d + c]!;
      s[b] = t * scale;
      mx = Math.max(mx, s[b]!);
    }
    let z = 0;
    for (let b = 0; b < nk; b++) z += s[b] = Math.exp(s[b]! - mx);
    for (let b = 0; b < nk; b++) for (let c = 0; c < dv; c++) out[a * dv + c] += (s[b]! / z) * v[b * dv + c]!;
  }
  return out;
}

/** Columns [c0, c0 + w) of a (n, cols) matrix. */
export function cols(x: Mat, n: number, total: number, c0: number, w: number): Mat {
  const y = new Float64Array(n * w);
  for (let r = 0; r < n; r++) for (let c = 0; c < w; c++) y[r * w + c] = x[r * total + c0 + c]!;
  return y;
}
