/** Naive float64 reference implementations with PyTorch semantics (NCHW), for testing the tfjs paths. */
import { tf } from '../../src/tf.js';

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
