// Fourier-KArAt against a float64 loop of the paper's Eq. 2 (+ W and the simplex projection of Algorithm 1)
// at sizes the fixtures do not cover; universal sharing; the projection's gradient.
import { describe, expect, it } from 'vitest';
import { tf, useBackend } from '../../src/index.js';
import { setFusedInference } from '../../src/kernels/inference.js';
import { FourierKArAtOperator, simplexProjection } from '../../src/blocks/karat.js';
import { VisionTransformerKArAt } from '../../src/models/karat.js';
import { maxAbs, maxAbsDiff, weightsOf } from '../helpers/naive.js';

function naiveSimplex(y: number[]): number[] {
  const u = [...y].sort((a, b) => b - a);
  let css = 0;
  let rho = 0;
  let cssRho = 0;
  u.forEach((v, i) => {
    css += v;
    if (v - (css - 1) / (i + 1) > 0) {
      rho = i + 1;
      cssRho = css;
    }
  });
  const lambda = (cssRho - 1) / rho;
  return y.map((v) => Math.max(v - lambda, 0));
}

async function naiveOperator(op: FourierKArAtOperator, a: Float64Array, B: number): Promise<Float64Array> {
  const w = await weightsOf(op);
  const coeff = w.get('coeff')!.data;
  const W = w.get('proj_weight')!.data;
  const { numHeads: h, numTokens: N, rank: r, gridSize: G } = op;
  const out = new Float64Array(B * h * N * N);
  for (let b = 0; b < B; b++)
    for (let hd = 0; hd < h; hd++)
      for (let k = 0; k < N; k++) {
        const row = a.subarray(((b * h + hd) * N + k) * N, ((b * h + hd) * N + k + 1) * N);
        const phi = new Float64Array(r);
        for (let p = 0; p < r; p++)
          for (let q = 0; q < N; q++)
            for (let m = 1; m <= G; m++) {
              const c0 = coeff[(((0 * h + hd) * r + p) * N + q) * G + m - 1]!;
              const c1 = coeff[(((1 * h + hd) * r + p) * N + q) * G + m - 1]!;
              phi[p] += c0 * Math.cos(m * row[q]!) + c1 * Math.sin(m * row[q]!);
            }
        let s = Array.from({ length: N }, (_, n) => Array.from({ length: r }, (_, p) => W[(hd * N + n) * r + p]! * phi[p]!).reduce((x, y) => x + y, 0));
        if (op.l1Proj) s = naiveSimplex(s);
        out.set(s, ((b * h + hd) * N + k) * N);
      }
  return out;
}

describe('FourierKArAtOperator', () => {
  // Fused: the row features in one inference kernel (and the permuted coefficients kept); composite: tfjs ops.
  for (const [l1Proj, fused] of [[false, true], [true, true], [false, false], [true, false]] as const) {
    it(`matches Eq. 2 with W${l1Proj ? ' and the simplex projection' : ''}: 2 heads, 7 tokens, r 3, G 4, batch 2 (${fused ? 'fused' : 'composite'})`, async () => {
      const op = new FourierKArAtOperator(2, 7, { rank: 3, gridSize: 4, l1Proj }).initialize(5);
      if (l1Proj) op.proj_weight.assignTf(tf.mul(op.proj_weight.value, 0.05));
      // Scores up to ~20 in magnitude, as trained attention logits can be.
      const a = tf.randomNormal([2, 2, 7, 7], 0, 6, 'float32', 6);
      setFusedInference(fused);
      const ours = op.forward(a);
      setFusedInference(true);
      const ref = await naiveOperator(op, Float64Array.from(a.dataSync()), 2);
      expect(maxAbsDiff(ours.dataSync(), ref)).toBeLessThan(2e-5 * Math.max(1, maxAbs(ref)));
      if (l1Proj) {
        const rows = ours.arraySync() as number[][][][];
        for (const row of rows.flat(2)) {
          expect(Math.min(...row)).toBeGreaterThanOrEqual(0);
          expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
        }
      }
      tf.dispose([a, ours]);
    });
  }

  it('checks the fixed token count', () => {
    const op = new FourierKArAtOperator(2, 5, { rank: 2, gridSize: 1 }).initialize(0);
    expect(() => op.forward(tf.zeros([1, 2, 6, 6]))).toThrow(/fixed/);
  });

  it('simplex projection gradient matches finite differences (cpu)', async () => {
    await useBackend('cpu');
    try {
      const y = tf.tensor2d([[0.3, -0.2, 0.9, 0.45, 0.1], [2.0, -1.0, 0.5, 1.8, 0.0]]);
      const r = tf.tensor2d([[1, -2, 0.5, 3, 1], [0.2, 1, -1, 2, 0.7]]);
      const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(simplexProjection(t), r)))(y).arraySync() as number[][];
      const ys = y.arraySync() as number[][];
      const rs = r.arraySync() as number[][];
      const f = (row: number[], i: number) => naiveSimplex(row).reduce((s, v, j) => s + v * rs[i]![j]!, 0);
      const eps = 1e-6;
      ys.forEach((row, i) =>
        row.forEach((_, j) => {
          const p = [...row];
          const m = [...row];
          p[j]! += eps;
          m[j]! -= eps;
          expect(g[i]![j]!).toBeCloseTo((f(p, i) - f(m, i)) / (2 * eps), 4);
        }),
      );
    } finally {
      await useBackend('wasm');
    }
  });
});

describe('KArAt ViT', () => {
  it('universal mode: one operator under karat_shared used by every block', () => {
    const cfg = { imgSize: 16, patchSize: 8, embedDim: 12, depth: 3, numHeads: 2, rank: 2, gridSize: 2, numClasses: 3 };
    const uni = new VisionTransformerKArAt({ ...cfg, mode: 'universal' }).initialize(1);
    const keys = uni.stateDictInfo().map((e) => e.key);
    expect(keys.filter((k) => k.includes('karat'))).toEqual(['karat_shared.coeff', 'karat_shared.proj_weight']);
    expect(keys.indexOf('karat_shared.coeff')).toBe(keys.indexOf('patch_embed.proj.bias') + 1);
    for (const b of uni.blocks) expect(b.attn.operator).toBe(uni.karat_shared);
    const blockwise = new VisionTransformerKArAt({ ...cfg, mode: 'blockwise' });
    expect(blockwise.numParams() - uni.numParams()).toBe(2 * (2 * 2 * 2 * 5 * 2 + 2 * 5 * 2));
    const x = tf.randomNormal([2, 16, 16, 3], 0, 1, 'float32', 2);
    expect(uni.forward(x).shape).toEqual([2, 3]);
    expect(uni.forwardIntermediates(x)[0]!.shape).toEqual([2, 2, 2, 12]);
    expect(() => uni.forward(tf.zeros([1, 24, 24, 3]))).toThrow(/16x16/);
  });
});
