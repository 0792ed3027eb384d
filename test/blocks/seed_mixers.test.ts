// The seed papers' attention blocks beyond their parity fixtures: the linear attention kernel's block form
// against its plain form and a float64 loop, each block's chunk form against its plain form, gradients
// against central finite differences, the ALiBi slopes of the spec, and errors in vizoo's words.
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import type { Module } from '../../src/nn/module.js';
import { linearAttention } from '../../src/kernels/linear_attention.js';
import { Lrpe, NormLinearAttention, NormLocalAttention, TransNormerNorm } from '../../src/blocks/transnormer.js';
import { BasedLinearAttention } from '../../src/blocks/based.js';
import { TnlAttention, alibiSlopes } from '../../src/blocks/lightning_attention.js';
import { randn } from '../helpers/naive.js';

const tensor = (shape: number[], seed: number, scale = 1) => tf.mul(tf.tensor(Float32Array.from(randn(shape, seed).data), shape), scale);

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

function maxAbs(a: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]!);
}

/** sum_{j<=i} exp(-s (i-j)) (q_i . k_j) v_j in float64 loops, per (b, h). */
function naiveCausal(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, slopes: number[] | null): Float64Array {
  const [B, H, N, D] = q.shape as number[];
  const E = v.shape[3]!;
  const [qd, kd, vd] = [q, k, v].map((t) => t.dataSync());
  const out = new Float64Array(B! * H! * N! * E);
  for (let b = 0; b < B!; b++)
    for (let h = 0; h < H!; h++)
      for (let i = 0; i < N!; i++)
        for (let j = 0; j <= i; j++) {
          const base = (b * H! + h) * N!;
          let dot = 0;
          for (let d = 0; d < D!; d++) dot += qd[(base + i) * D! + d]! * kd[(base + j) * D! + d]!;
          const w = dot * Math.exp(-(slopes ? slopes[h]! : 0) * (i - j));
          for (let e = 0; e < E; e++) out[(base + i) * E + e] += w * vd[(base + j) * E + e]!;
        }
  return out;
}

describe('linearAttention', () => {
  const inputs = () => [tensor([2, 3, 37, 5], 1, 0.5), tensor([2, 3, 37, 5], 2, 0.5), tensor([2, 3, 37, 4], 3)] as const;
  const slopes = [0.5, 0.05, 0];

  for (const withDecay of [false, true]) {
    it(`causal ${withDecay ? 'with per-head decay' : 'without decay'}: plain and blocks of 1, 8, 37 and 64 tokens equal a float64 loop`, () => {
      const s = withDecay ? slopes : null;
      const [q, k, v] = inputs();
      const ref = tf.tensor(Float32Array.from(naiveCausal(q, k, v, s)), [2, 3, 37, 4]);
      const scale = maxAbs(ref);
      const forms: [string, tf.Tensor][] = [['plain', linearAttention(q, k, v, { causal: true, slopes: s, impl: 'plain' })]];
      for (const blockSize of [1, 8, 37, 64]) forms.push([`chunk ${blockSize}`, linearAttention(q, k, v, { causal: true, slopes: s, impl: 'chunk', blockSize })]);
      for (const [, y] of forms) expect(maxAbsDiff(y, ref)).toBeLessThan(2e-6 * scale);
      tf.dispose([q, k, v, ref, ...forms.map((f) => f[1])]);
    });
  }

  it('non-causal is Q (K^T V) (the all-pairs sum), and a decay without causality is refused', () => {
    const [q, k, v] = inputs();
    const y = linearAttention(q, k, v, { causal: false });
    const ref = tf.matMul(tf.matMul(q, k, false, true), v);
    expect(maxAbsDiff(y, ref)).toBeLessThan(2e-6 * maxAbs(ref));
    expect(() => linearAttention(q, k, v, { causal: false, slopes })).toThrow(/decay needs the causal form/);
    expect(() => linearAttention(q, k, v, { causal: true, slopes: [1] })).toThrow(/1 decay slopes for 3 heads/);
    tf.dispose([q, k, v, y, ref]);
  });
});

describe('Lightning Attention-2 decay slopes', () => {
  it("are the ALiBi slopes of the spec, scaled by layer position (power-of-2 and other head counts)", () => {
    expect(alibiSlopes(5)).toEqual([1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2]);
    expect(alibiSlopes(8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => 2 ** -i));
    expect(alibiSlopes(1)).toEqual([2 ** -8]);
    // 6 heads: the four of P = 4, then slopes 0 and 2 of 8 heads (1/2, 1/8).
    expect(alibiSlopes(6)).toEqual([1 / 4, 1 / 16, 1 / 64, 1 / 256, 1 / 2, 1 / 8]);
    const m = new TnlAttention(16, 4, { layerIdx: 3, numLayers: 6 });
    m.slopes.forEach((s, i) => expect(s).toBeCloseTo(alibiSlopes(4)[i]! * (1 - 3 / 5 + 1e-5), 15));
    expect(() => new TnlAttention(16, 4, { numLayers: 1 })).toThrow(/num_layers must be at least 2/);
  });
});

/** The four blocks in a configuration whose causal forms span several blocks of 16 tokens. */
const blocks: [string, (impl: 'plain' | 'chunk') => Module & { forward(x: tf.Tensor): tf.Tensor }][] = [
  ['NormLinearAttention (causal, LRPE)', (impl) => new NormLinearAttention(24, 3, { actFun: '1+elu', normType: 'layer', causal: true, useLrpe: true, lrpe: { thetaLearned: true }, impl, blockSize: 16 })],
  ['BasedLinearAttention', (impl) => new BasedLinearAttention(24, { featureDim: 4, numHeads: 3, impl, blockSize: 16 })],
  ['TnlAttention', (impl) => new TnlAttention(24, 3, { bias: true, layerIdx: 1, numLayers: 4, impl, blockSize: 16 })],
];

describe('chunk (block) forms equal the plain forms', () => {
  for (const [name, build] of blocks) {
    it(name, () => {
      const plain = build('plain').initialize(7);
      const chunk = build('chunk').initialize(7);
      const x = tensor([2, 53, 24], 11);
      const a = plain.forward(x);
      const b = chunk.forward(x);
      expect(maxAbsDiff(a, b)).toBeLessThan(2e-6 * Math.max(1, maxAbs(a)));
      tf.dispose([x, a, b]);
    });
  }
});

/**
 * d(sum(w * f))/d(target) against central differences at `count` sampled elements of each target, in
 * float32 (step 1e-2: the rounding error of the difference stays near 1e-4 of the gradient's scale).
 */
function checkGradients(f: () => tf.Tensor, targets: [string, tf.Variable][], count = 6): void {
  const out = f();
  const w = tensor(out.shape as number[], 99);
  out.dispose();
  const loss = () => tf.sum(tf.mul(f(), w)) as tf.Scalar;
  const { grads } = tf.variableGrads(loss, targets.map((t) => t[1]));
  for (const [name, variable] of targets) {
    const analytic = grads[variable.name]!.dataSync();
    const scale = Math.max(...Array.from(analytic, Math.abs));
    expect(scale, `${name}: gradient is zero`).toBeGreaterThan(0);
    const base = variable.dataSync().slice();
    const h = 1e-2;
    for (let s = 0; s < count; s++) {
      const i = Math.floor(((s + 0.5) / count) * base.length);
      const at = (delta: number) => {
        const p = base.slice();
        p[i] = p[i]! + delta;
        variable.assign(tf.tensor(p, variable.shape));
        return tf.tidy(() => loss().dataSync()[0]!);
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      variable.assign(tf.tensor(base, variable.shape));
      expect(Math.abs(analytic[i]! - fd), `${name}[${i}]: analytic ${analytic[i]} vs finite difference ${fd}`).toBeLessThan(1e-2 * Math.abs(fd) + 2e-3 * scale);
    }
  }
  tf.dispose(Object.values(grads));
  tf.dispose(w);
}

describe('gradients match finite differences', () => {
  const cases: [string, Module & { forward(x: tf.Tensor): tf.Tensor }, string][] = [
    ...blocks.map(([name, build]) => [`${name}, chunk form`, build('chunk'), name.startsWith('Norm') ? 'lrpe.theta' : name.startsWith('Based') ? 'proj_k.weight' : 'output_gate.0.weight'] as [string, Module & { forward(x: tf.Tensor): tf.Tensor }, string]),
    ['NormLocalAttention (softmax, causal, padded chunks)', new NormLocalAttention(24, 3, { chunkSize: 8, useSoftmax: true, normType: 'none', causal: true }), 'q_proj.weight'],
    ['NormLocalAttention (1+elu, LayerNorm)', new NormLocalAttention(24, 3, { chunkSize: 8, actFun: '1+elu', normType: 'layer' }), 'normalize.norm.weight'],
  ];
  for (const [name, m, param] of cases) {
    it(name, () => {
      m.initialize(5);
      const x = tf.variable(tensor([2, 35, 24], 21));
      const p = m.namedParameters().find(([k]) => k === param)![1].value;
      checkGradients(() => m.forward(x), [
        ['input', x],
        [param, p],
      ]);
      x.dispose();
      m.dispose();
    });
  }
});

describe('TransNormer pieces', () => {
  it('LRPE rotates pairs of the first even number of dims by position * theta and keeps norms', () => {
    const lrpe = new Lrpe(5);
    const x = tensor([1, 4, 5], 31);
    const y = lrpe.forward(x);
    const [xd, yd] = [x.dataSync(), y.dataSync()];
    // Position 2, pair (0, 1): theta_0 = 1 -> rotation by 2 rad; the 5th dim (odd head dim) is untouched.
    const [c, s] = [Math.cos(2), Math.sin(2)];
    expect(yd[10]).toBeCloseTo(xd[10]! * c - xd[11]! * s, 5);
    expect(yd[11]).toBeCloseTo(xd[11]! * c + xd[10]! * s, 5);
    expect(yd[14]).toBe(xd[14]);
    expect(maxAbsDiff(tf.norm(x, 'euclidean', -1), tf.norm(y, 'euclidean', -1))).toBeLessThan(1e-5);
    tf.dispose([x, y]);
  });

  it("'instance' and 'simplerms' normalize over the batch axis, as the official (N, B, C) layout does", () => {
    const x = tensor([3, 4, 6], 41);
    const inst = new TransNormerNorm(6, 'instance').forward(x);
    const mean = tf.mean(inst, 0);
    expect(maxAbs(mean)).toBeLessThan(1e-5);
    const rms = new TransNormerNorm(6, 'simplerms').forward(x);
    const ref = tf.div(x, tf.add(tf.mul(tf.norm(x, 'euclidean', 0, true), 6 ** -0.5), 1e-2));
    expect(maxAbsDiff(rms, ref)).toBeLessThan(1e-6);
    tf.dispose([x, inst, mean, rms, ref]);
  });

  it('refuses the official defaults that raise there, and unimplemented LRPE forms, by name', () => {
    expect(() => new NormLinearAttention(8, 2)).toThrow(/norm_type 'layernorm' is not one of layer, batch, synbatch, instance, simplerms, none/);
    expect(() => new NormLocalAttention(8, 2)).toThrow(/norm_type 'gatedrmsnorm'/);
    expect(() => new NormLinearAttention(8, 3, { normType: 'layer' })).toThrow(/d_model 8 is not divisible by 3 heads/);
    expect(() => new Lrpe(8, { coreMatrix: 3 })).toThrow(/core_matrix 3 is not implemented/);
  });
});
