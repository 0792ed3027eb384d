// HiLo against a direct float64 reference of the paper's two branches (windows, pooled keys, bottom/right
// zero padding, Hi-Fi channels first), at shapes and head splits the fixtures do not cover.
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/index.js';
import { HiLo } from '../../src/blocks/hilo.js';
import { type Mat, attention, cols, linear, maxAbs, maxAbsDiff, weightsOf } from '../helpers/naive.js';

async function naiveHiLo(m: HiLo, x: Float64Array, B: number, H: number, W: number): Promise<Float64Array> {
  const w = await weightsOf(m);
  const C = m.dim;
  const ws = m.ws;
  const Hp = Math.ceil(H / ws) * ws;
  const Wp = Math.ceil(W / ws) * ws;
  const d = m.headDim;
  const out = new Float64Array(B * H * W * C);
  for (let b = 0; b < B; b++) {
    // Zero-padded map, tokens row-major.
    const xp = new Float64Array(Hp * Wp * C);
    for (let h = 0; h < H; h++) for (let v = 0; v < W; v++) for (let c = 0; c < C; c++) xp[(h * Wp + v) * C + c] = x[((b * H + h) * W + v) * C + c]!;
    const N = Hp * Wp;
    const y = new Float64Array(N * C);
    if (m.hHeads > 0) {
      const qkv = linear(xp, N, w.get('h_qkv.weight')!, w.get('h_qkv.bias'));
      const o = new Float64Array(N * m.hDim);
      for (let wy = 0; wy < Hp / ws; wy++)
        for (let wx = 0; wx < Wp / ws; wx++) {
          const toks: number[] = [];
          for (let i = 0; i < ws; i++) for (let j = 0; j < ws; j++) toks.push((wy * ws + i) * Wp + wx * ws + j);
          for (let hd = 0; hd < m.hHeads; hd++) {
            const pick = (part: number) => {
              const a = new Float64Array(toks.length * d);
              toks.forEach((t, r) => {
                for (let c = 0; c < d; c++) a[r * d + c] = qkv[t * 3 * m.hDim + part * m.hDim + hd * d + c]!;
              });
              return a;
            };
            const a = attention(pick(0), pick(1), pick(2), toks.length, toks.length, d, d, m.scale);
            toks.forEach((t, r) => {
              for (let c = 0; c < d; c++) o[t * m.hDim + hd * d + c] = a[r * d + c]!;
            });
          }
        }
      const p = linear(o, N, w.get('h_proj.weight')!, w.get('h_proj.bias'));
      for (let t = 0; t < N; t++) for (let c = 0; c < m.hDim; c++) y[t * C + c] = p[t * m.hDim + c]!;
    }
    if (m.lHeads > 0) {
      const q = linear(xp, N, w.get('l_q.weight')!, w.get('l_q.bias'));
      let src: Mat = xp;
      let M = N;
      if (ws > 1) {
        M = (Hp / ws) * (Wp / ws);
        src = new Float64Array(M * C);
        for (let wy = 0; wy < Hp / ws; wy++)
          for (let wx = 0; wx < Wp / ws; wx++)
            for (let i = 0; i < ws; i++)
              for (let j = 0; j < ws; j++)
                for (let c = 0; c < C; c++) src[(wy * (Wp / ws) + wx) * C + c] += xp[((wy * ws + i) * Wp + wx * ws + j) * C + c]! / (ws * ws);
      }
      const kv = linear(src, M, w.get('l_kv.weight')!, w.get('l_kv.bias'));
      const o = new Float64Array(N * m.lDim);
      for (let hd = 0; hd < m.lHeads; hd++) {
        const a = attention(cols(q, N, m.lDim, hd * d, d), cols(kv, M, 2 * m.lDim, hd * d, d), cols(kv, M, 2 * m.lDim, m.lDim + hd * d, d), N, M, d, d, m.scale);
        for (let t = 0; t < N; t++) for (let c = 0; c < d; c++) o[t * m.lDim + hd * d + c] = a[t * d + c]!;
      }
      const p = linear(o, N, w.get('l_proj.weight')!, w.get('l_proj.bias'));
      for (let t = 0; t < N; t++) for (let c = 0; c < m.lDim; c++) y[t * C + m.hDim + c] = p[t * m.lDim + c]!;
    }
    for (let h = 0; h < H; h++) for (let v = 0; v < W; v++) for (let c = 0; c < C; c++) out[((b * H + h) * W + v) * C + c] = y[(h * Wp + v) * C + c]!;
  }
  return out;
}

const CASES: [string, number, number, number, number, number, number][] = [
  // name, dim, heads, ws, alpha, H, W
  ['ws 3, odd non-square map (padding), 3 of 4 heads Lo-Fi', 32, 4, 3, 0.8, 7, 5],
  ['ws 2, alpha 0: Hi-Fi only', 24, 3, 2, 0, 4, 6],
  ['ws 2, alpha 1: Lo-Fi only, padded', 24, 3, 2, 1, 5, 3],
  ['ws 1: plain multi-head self-attention', 16, 2, 1, 0.5, 3, 4],
];

describe('HiLo', () => {
  for (const [name, dim, heads, ws, alpha, H, W] of CASES) {
    it(name, async () => {
      const m = new HiLo(dim, { numHeads: heads, windowSize: ws, alpha, qkvBias: true }).initialize(3);
      const x = tf.randomNormal([2, H, W, dim], 0, 1, 'float32', 5);
      const ours = m.forward(x);
      expect(ours.shape).toEqual([2, H, W, dim]);
      const ref = await naiveHiLo(m, Float64Array.from(x.dataSync()), 2, H, W);
      expect(maxAbsDiff(ours.dataSync(), ref)).toBeLessThan(1e-5 * Math.max(1, maxAbs(ref)) + 1e-6);
      tf.dispose([x, ours]);
      m.dispose();
    });
  }

  it('splits heads with the floor of num_heads * alpha', () => {
    const m = new HiLo(96, { numHeads: 12, windowSize: 2, alpha: 0.9 });
    expect([m.lHeads, m.hHeads]).toEqual([10, 2]);
    expect(m.stateDictInfo().map((e) => e.key)).toEqual(['l_q.weight', 'l_kv.weight', 'l_proj.weight', 'l_proj.bias', 'h_qkv.weight', 'h_proj.weight', 'h_proj.bias']);
  });
});
