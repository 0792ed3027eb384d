// GLA op: recurrent and chunk-parallel forms against a float64 reference scan (other shapes than the
// fixtures, chunk sizes that do and do not divide L, strongly negative gates), and gradients against
// finite differences of the reference.
import { describe, expect, it } from 'vitest';
import { tf, useBackend } from '../../src/index.js';
import { glaBidirectional, glaForward, glaReverse, type GlaImpl } from '../../src/kernels/gated_linear_attention.js';
import { type GlaInputs, bidReference, maxAbs, maxAbsDiff, randomGla, scanReference } from './gla_reference.js';

const tensors = (x: GlaInputs) => {
  const { b, h, l, dk, dv } = x.shape;
  const t = (a: Float64Array, d: number) => tf.tensor4d(Float32Array.from(a), [b, h, l, d]);
  return { q: t(x.q, dk), k: t(x.k, dk), v: t(x.v, dv), gf: t(x.gf, dk), gb: t(x.gb, dk) };
};

function run(x: GlaInputs, what: 'forward' | 'reverse' | 'bid', impl: GlaImpl, chunkSize?: number): Float32Array {
  const t = tensors(x);
  const o = tf.tidy(() => {
    const opts = { impl, chunkSize };
    if (what === 'forward') return glaForward(t.q, t.k, t.v, t.gf, opts);
    if (what === 'reverse') return glaReverse(t.q, t.k, t.v, t.gb, opts);
    return glaBidirectional(t.q, t.k, t.v, t.gf, t.gb, opts);
  });
  const data = o.dataSync() as Float32Array;
  tf.dispose([o, ...Object.values(t)]);
  return data;
}

function reference(x: GlaInputs, what: 'forward' | 'reverse' | 'bid'): Float64Array {
  const scale = x.shape.dk ** -0.5;
  if (what === 'forward') return scanReference(x, x.gf, false, scale);
  if (what === 'reverse') return scanReference(x, x.gb, true, scale);
  return bidReference(x, scale);
}

describe('gated linear attention op', () => {
  const shapes = [
    { b: 2, h: 2, l: 13, dk: 4, dv: 8 },
    { b: 1, h: 3, l: 40, dk: 8, dv: 16 },
    { b: 1, h: 1, l: 5, dk: 3, dv: 5 },
  ];
  for (const shape of shapes) {
    for (const what of ['forward', 'reverse', 'bid'] as const) {
      it(`${what} ${JSON.stringify(shape)}: recurrent == chunk (sizes 1, 4, 6, 8, 16, 32, 64) == float64 reference`, () => {
        const x = randomGla(shape.l * 7 + shape.dk, shape);
        const ref = reference(x, what);
        const tol = 2e-5 * Math.max(1, maxAbs(ref));
        expect(maxAbsDiff(run(x, what, 'recurrent'), ref)).toBeLessThan(tol);
        for (const c of [1, 4, 6, 8, 16, 32, 64]) expect(maxAbsDiff(run(x, what, 'chunk', c), ref)).toBeLessThan(tol);
      });
    }
  }

  it('stays finite and exact with strongly negative gates (chunk decay far below exp(-88))', () => {
    const shape = { b: 1, h: 2, l: 37, dk: 4, dv: 6 };
    // Per-step log decays down to about -60 (and logsigmoid of large negative logits): a naive
    // exp(+cumsum) within a 16-token chunk would overflow float32.
    const x = randomGla(5, shape, { normalizer: 1, zScale: 30, extra: 60 });
    expect(Math.min(...x.gf)).toBeLessThan(-50);
    for (const what of ['forward', 'reverse', 'bid'] as const) {
      const ref = reference(x, what);
      for (const c of [8, 16, 32]) {
        const ours = run(x, what, 'chunk', c);
        expect(ours.every(Number.isFinite)).toBe(true);
        expect(maxAbsDiff(ours, ref)).toBeLessThan(2e-5 * Math.max(1, maxAbs(ref)));
      }
    }
  });

  it('zero gates make it plain (unnormalized) linear attention', () => {
    const shape = { b: 1, h: 1, l: 6, dk: 2, dv: 3 };
    const x = randomGla(9, shape);
    x.gf.fill(0);
    const o = run(x, 'forward', 'chunk', 4);
    // o_t = sum_{s<=t} (q_t . k_s) v_s / sqrt(dk)
    for (let t = 0; t < 6; t++) {
      for (let j = 0; j < 3; j++) {
        let acc = 0;
        for (let s = 0; s <= t; s++) acc += (x.q[t * 2]! * x.k[s * 2]! + x.q[t * 2 + 1]! * x.k[s * 2 + 1]!) * x.v[s * 3 + j]!;
        expect(o[t * 3 + j]).toBeCloseTo(acc / Math.SQRT2, 4);
      }
    }
  });

  describe('gradients (cpu)', () => {
    // Directional derivative of loss = sum(o * w) along a random direction d of each input: tfjs
    // autograd of the chunk form vs central differences of the float64 reference.
    const shape = { b: 1, h: 2, l: 11, dk: 3, dv: 4 };
    for (const what of ['forward', 'reverse', 'bid'] as const) {
      it(`${what}: chunk autograd == finite differences of the reference`, async () => {
        const prev = tf.getBackend();
        await useBackend('cpu');
        try {
          const x = randomGla(21, shape, { normalizer: 2 });
          const dirs = randomGla(22, shape);
          const w = randomGla(23, { ...shape, dk: shape.dv }).q;
          const loss64 = (y: GlaInputs) => reference(y, what).reduce((s, o, i) => s + o * w[i]!, 0);
          const names = what === 'forward' ? (['q', 'k', 'v', 'gf'] as const) : what === 'reverse' ? (['q', 'k', 'v', 'gb'] as const) : (['q', 'k', 'v', 'gf', 'gb'] as const);
          const t = tensors(x);
          const wT = tf.tensor4d(Float32Array.from(w), [shape.b, shape.h, shape.l, shape.dv]);
          const f = (...xs: tf.Tensor[]) => {
            const [q, k, v, g1, g2] = xs as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor | undefined];
            const opts = { impl: 'chunk' as const, chunkSize: 4 };
            const o = what === 'forward' ? glaForward(q, k, v, g1, opts) : what === 'reverse' ? glaReverse(q, k, v, g1, opts) : glaBidirectional(q, k, v, g1, g2!, opts);
            return tf.sum(tf.mul(o, wT));
          };
          const grads = tf.grads(f)(names.map((nm) => t[nm]));
          for (let n = 0; n < names.length; n++) {
            const name = names[n]!;
            const g = Array.from(grads[n]!.dataSync());
            const d = dirs[name === 'gb' || name === 'gf' ? 'q' : name].map((v) => v * (name.startsWith('g') ? 0.2 : 1));
            const analytic = g.reduce((s: number, gi: number, i: number) => s + gi * d[i]!, 0);
            const eps = 1e-5;
            const plus = { ...x, [name]: x[name].map((v, i) => v + eps * d[i]!) };
            const minus = { ...x, [name]: x[name].map((v, i) => v - eps * d[i]!) };
            const numeric = (loss64(plus) - loss64(minus)) / (2 * eps);
            expect(Math.abs(numeric)).toBeGreaterThan(1e-3);
            expect(Math.abs(analytic - numeric)).toBeLessThan(1e-3 * Math.max(1, Math.abs(numeric)));
          }
          tf.dispose([...grads, ...Object.values(t), wT]);
        } finally {
          await useBackend(prev);
        }
      });
    }

    it('recurrent and chunk gradients agree', async () => {
      const prev = tf.getBackend();
      await useBackend('cpu');
      try {
        const x = randomGla(31, { b: 2, h: 1, l: 9, dk: 2, dv: 3 });
        const t = tensors(x);
        const g = (impl: GlaImpl) =>
          tf.grads((q: tf.Tensor, k: tf.Tensor, v: tf.Tensor, gf: tf.Tensor, gb: tf.Tensor) => tf.sum(tf.square(glaBidirectional(q, k, v, gf, gb, { impl, chunkSize: 4 }))))([t.q, t.k, t.v, t.gf, t.gb]);
        const a = g('recurrent');
        const b = g('chunk');
        for (let i = 0; i < a.length; i++) expect(maxAbsDiff(a[i]!.dataSync(), b[i]!.dataSync())).toBeLessThan(1e-4 * Math.max(1, maxAbs(a[i]!.dataSync())));
        tf.dispose([...a, ...b, ...Object.values(t)]);
      } finally {
        await useBackend(prev);
      }
    });
  });
});
