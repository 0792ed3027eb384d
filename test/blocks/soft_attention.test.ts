// SOFT attention against a float64 reference of the official equations (landmark conv that floors,
// Gaussian kernels, Newton-Raphson inverse, per-head V conv; SOFT-Norm's batch-global alpha loop), at
// shapes the fixtures do not cover (non-square, non-divisible by the ratio, batch 2).
import { describe, expect, it } from 'vitest';
import { LayerNorm, tf, useBackend } from '../../src/index.js';
import { SoftmaxFreeAttention, newtonInverse } from '../../src/blocks/soft_attention.js';
import { type Mat, linear, maxAbs, maxAbsDiff, weightsOf } from '../helpers/naive.js';

function matmul(a: Mat, b: Mat, n: number, k: number, m: number): Mat {
  const y = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) for (let t = 0; t < k; t++) y[i * m + j] += a[i * k + t]! * b[t * m + j]!;
  return y;
}
const transpose = (a: Mat, n: number, m: number): Mat => Float64Array.from({ length: n * m }, (_, i) => a[(i % n) * m + Math.floor(i / n)]!);
const erf = (x: number): number => {
  // Abramowitz-Stegun 7.1.26 is too coarse; integrate the series instead (|x| is small here).
  let s = 0;
  let term = x;
  for (let n = 0; n < 60; n++) {
    s += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * s;
};
const gelu = (x: number) => 0.5 * x * (1 + erf(x / Math.SQRT2));

function gauss(a: Mat, b: Mat, n: number, m: number, d: number): Mat {
  const y = new Float64Array(n * m);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += (a[i * d + c]! - b[j * d + c]!) ** 2;
      y[i * m + j] = Math.exp(-s / 2);
    }
  return y;
}

function newton(p: Mat, m: number, alpha: number, iters: number): Mat {
  let v = p.map((x) => x * alpha);
  for (let i = 0; i < iters; i++) {
    const vpv = matmul(matmul(v, p, m, m, m), v, m, m, m);
    v = v.map((x, j) => 2 * x - vpv[j]!);
  }
  return v;
}

async function naiveSoft(mod: SoftmaxFreeAttention, x: Float64Array, B: number, H: number, W: number, normalized: boolean): Promise<Float64Array> {
  const w = await weightsOf(mod);
  const C = mod.dim;
  const nh = mod.numHeads;
  const d = mod.headDim;
  const r = mod.attn.ratio;
  const N = H * W;
  const [hr, wr] = [Math.floor(H / r), Math.floor(W / r)];
  const M = hr * wr;
  const ks = mod.attn.convSize;
  const q = linear(x, B * N, w.get('W_q.weight')!, w.get('W_q.bias')).map((t) => t / Math.sqrt(Math.sqrt(d)));
  const v = linear(x, B * N, w.get('W_v.weight')!, w.get('W_v.bias'));
  const head = (t: Mat, b: number, h: number) => Float64Array.from({ length: N * d }, (_, i) => t[(b * N + Math.floor(i / d)) * C + h * d + (i % d)]!);
  const lw = w.get('attn.Qlandmark_op.weight')!.data;
  const [lnw, lnb] = [w.get('attn.Qnorm_act.0.weight')!.data, w.get('attn.Qnorm_act.0.bias')!.data];
  const cw = w.get('attn.conv.weight')!.data;
  // Per (b, h): landmarks, kernels.
  const k1s: Mat[] = [];
  const k2s: Mat[] = [];
  for (let b = 0; b < B; b++)
    for (let h = 0; h < nh; h++) {
      const qh = head(q, b, h);
      const L = new Float64Array(M * d);
      for (let i = 0; i < hr; i++)
        for (let j = 0; j < wr; j++) {
          const l = L.subarray((i * wr + j) * d, (i * wr + j + 1) * d);
          for (let o = 0; o < d; o++)
            for (let c = 0; c < d; c++)
              for (let ki = 0; ki < r; ki++) for (let kj = 0; kj < r; kj++) l[o] += lw[((o * d + c) * r + ki) * r + kj]! * qh[((i * r + ki) * W + j * r + kj) * d + c]!;
          const mean = l.reduce((s, t) => s + t, 0) / d;
          const vr = l.reduce((s, t) => s + (t - mean) ** 2, 0) / d;
          for (let c = 0; c < d; c++) l[c] = gelu(((l[c]! - mean) / Math.sqrt(vr + 1e-5)) * lnw[c]! + lnb[c]!);
        }
      k1s.push(gauss(qh, L, N, M, d));
      k2s.push(gauss(L, L, M, M, d));
    }
  // Inverses.
  const invs: Mat[] = [];
  const rowSums = (k: Mat) => Array.from({ length: M }, (_, i) => k.subarray(i * M, (i + 1) * M).reduce((s, t) => s + t, 0));
  if (!normalized) {
    for (const k2 of k2s) {
      const alpha = (0.9 * 2) / Math.max(...rowSums(k2)) ** 2;
      const p = k2.map((t, i) => t + (Math.floor(i / M) === i % M ? 0.01 : 0));
      invs.push(newton(p, M, alpha, mod.attn.maxIter));
    }
  } else {
    let alpha = 2 / Math.max(...k2s.flatMap(rowSums)) ** 2;
    const pnorm = (a: number) =>
      Math.max(
        ...k2s.flatMap((p) => {
          const pv = matmul(p, p.map((t) => t * a), M, M, M);
          return Array.from({ length: M }, (_, j) => Array.from({ length: M }, (_, i) => Math.abs((i === j ? 1 : 0) - pv[i * M + j]!)).reduce((s, t) => s + t, 0));
        }),
      );
    for (let tries = 0; pnorm(alpha) > 1.01 && tries < 10; tries++) alpha /= 2;
    for (const k2 of k2s) {
      const vinv = newton(k2, M, alpha, mod.attn.maxIter);
      const dd = rowSums(k2).map((s) => 1 / Math.sqrt(s));
      invs.push(vinv.map((t, i) => dd[Math.floor(i / M)]! * t * dd[i % M]!));
    }
  }
  // Outputs.
  const merged = new Float64Array(B * N * C);
  const p = Math.floor(ks / 2);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < nh; h++) {
      const k1 = k1s[b * nh + h]!;
      const vh = head(v, b, h);
      const X = matmul(matmul(k1, invs[b * nh + h]!, N, M, M), matmul(transpose(k1, N, M), vh, M, N, d), N, M, d);
      for (let y = 0; y < H; y++)
        for (let xx = 0; xx < W; xx++)
          for (let c = 0; c < d; c++) {
            let s = 0;
            for (let ki = 0; ki < ks; ki++)
              for (let kj = 0; kj < ks; kj++) {
                const [yy, xc] = [y + ki - p, xx + kj - p];
                if (yy >= 0 && yy < H && xc >= 0 && xc < W) s += cw[(h * ks + ki) * ks + kj]! * vh[(yy * W + xc) * d + c]!;
              }
            merged[(b * N + y * W + xx) * C + h * d + c] = X[(y * W + xx) * d + c]! + s;
          }
    }
  return linear(merged, B * N, w.get('ff.weight')!, w.get('ff.bias'));
}

describe('SoftmaxFreeAttention', () => {
  for (const normalized of [false, true]) {
    it(`${normalized ? 'SOFT-Norm' : 'SOFT'}: 9x7 map, ratio 2 (floored 4x3 landmarks), conv 3, batch 2`, async () => {
      const m = new SoftmaxFreeAttention(24, 2, 2, 3, 20, normalized).initialize(2);
      // A smaller landmark LayerNorm gain keeps the Gaussian kernels away from the identity.
      (m.attn.Qnorm_act.layers[0] as LayerNorm).weight!.assignTf(tf.fill([12], 0.5));
      const x = tf.randomNormal([2, 9, 7, 24], 0, 1, 'float32', 8);
      const ours = m.forward(x);
      expect(ours.shape).toEqual([2, 9, 7, 24]);
      const ref = await naiveSoft(m, Float64Array.from(x.dataSync()), 2, 9, 7, normalized);
      expect(maxAbsDiff(ours.dataSync(), ref)).toBeLessThan(1e-4 * Math.max(1, maxAbs(ref)));
      tf.dispose([x, ours]);
    });
  }

  it('SOFT-Norm couples the images of a batch (batch-global alpha), SOFT does not', () => {
    for (const normalized of [false, true]) {
      const m = new SoftmaxFreeAttention(16, 2, 2, 3, 20, normalized).initialize(4);
      (m.attn.Qnorm_act.layers[0] as LayerNorm).weight!.assignTf(tf.fill([8], 0.5));
      const a = tf.randomNormal([1, 6, 6, 16], 0, 1, 'float32', 1);
      // A constant image has identical landmarks: K2 = all ones has the largest possible row sums.
      const b = tf.ones([1, 6, 6, 16]);
      const alone = m.forward(a);
      const together = tf.slice(m.forward(tf.concat([a, b])), [0, 0, 0, 0], [1, -1, -1, -1]);
      const diff = tf.max(tf.abs(tf.sub(alone, together))).dataSync()[0]!;
      if (normalized) expect(diff).toBeGreaterThan(1e-4);
      else expect(diff).toBeLessThan(1e-5);
    }
  });
});

describe('newtonInverse', () => {
  it('converges to (K + 0.01 I)^-1 for a Gaussian kernel matrix', () => {
    const pts = tf.randomNormal([2, 3, 6, 4], 0, 0.8, 'float32', 3);
    const sq = tf.sum(tf.square(tf.sub(tf.expandDims(pts, 3), tf.expandDims(pts, 2))), -1);
    const k = tf.exp(tf.mul(sq, -0.5));
    const v = newtonInverse(k, 20);
    const prod = tf.matMul(tf.add(k, tf.mul(tf.eye(6), 0.01)), v);
    expect(tf.max(tf.abs(tf.sub(prod, tf.eye(6)))).dataSync()[0]).toBeLessThan(1e-3);
  });

  it('has the official gradient -V^T dY V^T, the true gradient once converged (cpu)', async () => {
    await useBackend('cpu');
    try {
      const pts = tf.randomNormal([1, 1, 5, 3], 0, 1, 'float32', 9);
      const k = tf.exp(tf.mul(tf.sum(tf.square(tf.sub(tf.expandDims(pts, 3), tf.expandDims(pts, 2))), -1), -0.5));
      const r = tf.randomNormal([1, 1, 5, 5], 0, 1, 'float32', 10);
      const f = (m: tf.Tensor) => tf.sum(tf.mul(newtonInverse(m, 60), r));
      const g = tf.grad(f)(k).dataSync();
      const exact = (m: tf.Tensor) => tf.sum(tf.mul(r, inv(m)));
      // Central finite differences of the exact inverse, one entry at a time.
      const base = k.arraySync() as number[][][][];
      const eps = 1e-2;
      for (const [i, j] of [[0, 0], [1, 3], [4, 2]] as const) {
        const bump = (s: number) => {
          const c = JSON.parse(JSON.stringify(base)) as number[][][][];
          c[0]![0]![i]![j]! += s * eps;
          return tf.tensor(c);
        };
        const fd = (exact(bump(1)).dataSync()[0]! - exact(bump(-1)).dataSync()[0]!) / (2 * eps);
        expect(Math.abs(g[i * 5 + j]! - fd)).toBeLessThan(2e-2 * Math.max(1, Math.abs(fd)));
      }
    } finally {
      await useBackend('wasm');
    }
  });
});

/** (K + 0.01 I)^-1 of a (1, 1, n, n) tensor by Gauss-Jordan in float64. */
function inv(m: tf.Tensor): tf.Tensor {
  const n = m.shape[3]!;
  const a = Array.from((m.dataSync() as Float32Array), Number);
  const e = Array.from({ length: n * n }, (_, i) => (Math.floor(i / n) === i % n ? 1 : 0));
  for (let i = 0; i < n; i++) a[i * n + i]! += 0.01;
  for (let c = 0; c < n; c++) {
    const piv = a[c * n + c]!;
    for (let j = 0; j < n; j++) {
      a[c * n + j]! /= piv;
      e[c * n + j]! /= piv;
    }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = a[r * n + c]!;
      for (let j = 0; j < n; j++) {
        a[r * n + j]! -= f * a[c * n + j]!;
        e[r * n + j]! -= f * e[c * n + j]!;
      }
    }
  }
  return tf.tensor(e, m.shape);
}
