// Small float64 building blocks for naive TypeScript references of blocks (row-major arrays).
import type { Module } from '../../src/nn/module.js';
import { toFloat32 } from '../../src/hub/host_tensor.js';

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
