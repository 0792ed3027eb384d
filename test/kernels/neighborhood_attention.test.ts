// Neighborhood attention (NA, DiNA, GNA) against a dense brute-force reference on random configurations,
// every implementation against each other, and gradients against finite differences.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { useBackend } from '../../src/backend/index.js';
import { Rng } from '../../src/nn/rng.js';
import { compositeBackward, neighborhoodAttention, neighborhoodPlan, resolveSpec, type NeighborhoodSpec } from '../../src/kernels/neighborhood_attention.js';

interface Config {
  batch: number;
  spatial: number[];
  heads: number;
  headDim: number;
  spec: NeighborhoodSpec;
  rpb: boolean;
}

/**
 * Whether in-axis key j is a neighbor of query i, written as a membership test from the rules of
 * docs/families/nat.md (#dilation, #generalized-na-stride-and-causal-masks): same dilation group; non-causal:
 * inside the k-window around the stride group's leader, slid inward at the group's borders; causal: from the
 * window start up to the query.
 */
function member(i: number, j: number, L: number, k: number, s: number, d: number, causal: boolean): boolean {
  if (i % d !== j % d) return false;
  const r = i % d;
  const lg = Math.ceil((L - r) / d);
  const qi = Math.floor(i / d);
  const kj = Math.floor(j / d);
  const group = Math.floor(qi / s) * s;
  if (causal) {
    const leader = Math.min(group + s - 1, lg - 1);
    return kj >= Math.max(leader - k + 1, 0) && kj <= qi;
  }
  const leader = Math.min(group + Math.floor(s / 2), lg - 1);
  let start = leader - Math.floor(k / 2);
  if (start < 0) start = 0;
  if (start + k > lg) start = lg - k;
  return kj >= start && kj < start + k;
}

function unravel(n: number, dims: number[]): number[] {
  const out = new Array<number>(dims.length);
  for (let a = dims.length - 1; a >= 0; a--) {
    out[a] = n % dims[a]!;
    n = Math.floor(n / dims[a]!);
  }
  return out;
}

/** Dense masked attention in float64 on flat (B, N, h, d) arrays; rpb (h, prod(2k-1)). */
function bruteForce(c: Config, q: Float64Array, k: Float64Array, v: Float64Array, rpb: Float64Array | null): Float64Array {
  const { batch, spatial, heads: h, headDim: d, spec } = c;
  const n = spatial.reduce((a, b) => a * b, 1);
  const scale = d ** -0.5;
  const tab = spec.kernelSize.map((kk) => 2 * kk - 1);
  const out = new Float64Array(batch * n * h * d);
  for (let b = 0; b < batch; b++) {
    for (let qi = 0; qi < n; qi++) {
      const qc = unravel(qi, spatial);
      for (let hh = 0; hh < h; hh++) {
        const logits: [number, number][] = [];
        for (let kj = 0; kj < n; kj++) {
          const kc = unravel(kj, spatial);
          const ok = spatial.every((L, a) => member(qc[a]!, kc[a]!, L, spec.kernelSize[a]!, spec.stride[a]!, spec.dilation[a]!, spec.isCausal[a]!));
          if (!ok) continue;
          let s = 0;
          for (let e = 0; e < d; e++) s += q[((b * n + qi) * h + hh) * d + e]! * scale * k[((b * n + kj) * h + hh) * d + e]!;
          if (rpb) {
            let t = 0;
            for (let a = 0; a < spatial.length; a++) {
              const dd = spec.dilation[a]!;
              const rel = Math.floor(kc[a]! / dd) - Math.floor(qc[a]! / dd) + spec.kernelSize[a]! - 1;
              t = t * tab[a]! + rel;
            }
            s += rpb[hh * tab.reduce((x, y) => x * y, 1) + t]!;
          }
          logits.push([kj, s]);
        }
        const m = Math.max(...logits.map((l) => l[1]));
        const ws = logits.map(([kj, s]) => [kj, Math.exp(s - m)] as [number, number]);
        const z = ws.reduce((acc, w) => acc + w[1], 0);
        for (const [kj, w] of ws) {
          for (let e = 0; e < d; e++) out[((b * n + qi) * h + hh) * d + e]! += (w / z) * v[((b * n + kj) * h + hh) * d + e]!;
        }
      }
    }
  }
  return out;
}

function randomConfig(rng: Rng): Config {
  const rank = rng.uniform() < 0.35 ? 1 : 2;
  const spatial: number[] = [];
  const kernelSize: number[] = [];
  const dilation: number[] = [];
  const stride: number[] = [];
  const isCausal: boolean[] = [];
  const wantRpb = rng.uniform() < 0.4;
  for (let a = 0; a < rank; a++) {
    const L = 3 + rng.int(rank === 1 ? 14 : 7);
    let k = 2 + rng.int(Math.min(4, L - 1));
    if (wantRpb && k % 2 === 0) k = k - 1 >= 1 ? k - 1 : k + 1;
    k = Math.min(k, L);
    const dMax = Math.max(1, Math.floor(L / k));
    spatial.push(L);
    kernelSize.push(k);
    dilation.push(1 + rng.int(Math.min(dMax, 3)));
    stride.push(1 + rng.int(k));
    isCausal.push(!wantRpb && rng.uniform() < 0.3);
  }
  const rpb = wantRpb && kernelSize.every((k) => k % 2 === 1);
  if (rpb) stride.fill(1);
  return { batch: 1 + rng.int(2), spatial, heads: 1 + rng.int(3), headDim: 2 + rng.int(4), spec: { kernelSize, stride, dilation, isCausal }, rpb };
}

function randn(rng: Rng, n: number, std = 1): Float64Array {
  return Float64Array.from({ length: n }, () => std * rng.normal());
}

function inputsFor(c: Config, seed: number) {
  const rng = new Rng(seed);
  const n = c.spatial.reduce((a, b) => a * b, 1);
  const size = c.batch * n * c.heads * c.headDim;
  const q = randn(rng, size, 1.5);
  const k = randn(rng, size, 1.5);
  const v = randn(rng, size);
  const rpb = c.rpb ? randn(rng, c.heads * c.spec.kernelSize.reduce((a, kk) => a * (2 * kk - 1), 1), 0.5) : null;
  return { q, k, v, rpb };
}

function run(c: Config, x: ReturnType<typeof inputsFor>, impl: 'composite' | 'fused'): Float32Array {
  const shape = [c.batch, ...c.spatial, c.heads, c.headDim];
  const tableShape = [c.heads, ...c.spec.kernelSize.map((k) => 2 * k - 1)];
  return tf.tidy(() => {
    const t = (a: Float64Array, s: number[]) => tf.tensor(Float32Array.from(a), s);
    return neighborhoodAttention(t(x.q, shape), t(x.k, shape), t(x.v, shape), { ...c.spec, rpb: x.rpb ? t(x.rpb, tableShape) : null, impl }).dataSync() as Float32Array;
  });
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

const configs = (() => {
  const rng = new Rng(20250601);
  return Array.from({ length: 40 }, () => randomConfig(rng));
})();

describe('neighborhood plan', () => {
  it('gives every non-causal query exactly k keys, all distinct and in its dilation group', () => {
    for (const c of configs.filter((x) => !x.spec.isCausal.some(Boolean))) {
      const plan = neighborhoodPlan(c.spatial, c.spec);
      for (let n = 0; n < plan.numTokens; n++) {
        const keys = Array.from(plan.neighbors.subarray(n * plan.numSlots, (n + 1) * plan.numSlots));
        expect(new Set(keys).size).toBe(plan.numSlots);
        const qc = unravel(n, c.spatial);
        for (const key of keys) unravel(key, c.spatial).forEach((kc, a) => expect(kc % c.spec.dilation[a]!).toBe(qc[a]! % c.spec.dilation[a]!));
      }
    }
  });

  it('is blocked attention when stride == kernel divides the length', () => {
    const plan = neighborhoodPlan([8], resolveSpec(1, { kernelSize: 4, stride: 4 }));
    expect(Array.from(plan.neighbors.subarray(0, 4))).toEqual([0, 1, 2, 3]);
    expect(Array.from(plan.neighbors.subarray(3 * 4, 4 * 4))).toEqual([0, 1, 2, 3]);
    expect(Array.from(plan.neighbors.subarray(5 * 4, 6 * 4))).toEqual([4, 5, 6, 7]);
  });

  it('follows the GNA rules on hand-worked 1-D examples', () => {
    const keysOf = (plan: ReturnType<typeof neighborhoodPlan>, i: number) => Array.from(plan.neighbors.subarray(i * plan.numSlots, (i + 1) * plan.numSlots));
    // k=5, s=5, L=12: blocks 0-4 and 5-9; the partial group 10-11 has leader 11, so its window is the last 5.
    const blocked = neighborhoodPlan([12], resolveSpec(1, { kernelSize: 5, stride: 5 }));
    expect(keysOf(blocked, 4)).toEqual([0, 1, 2, 3, 4]);
    expect(keysOf(blocked, 5)).toEqual([5, 6, 7, 8, 9]);
    expect(keysOf(blocked, 10)).toEqual([7, 8, 9, 10, 11]);
    // Even kernel: the window extends one more to the left (wl = 2, wr = 1).
    const even = neighborhoodPlan([10], resolveSpec(1, { kernelSize: 4 }));
    expect(keysOf(even, 5)).toEqual([3, 4, 5, 6]);
    expect(keysOf(even, 0)).toEqual([0, 1, 2, 3]);
    expect(keysOf(even, 9)).toEqual([6, 7, 8, 9]);
    // Causal, k=4, s=2: queries 2 and 3 share the leader 3 (start 0) but end at themselves.
    const causal = neighborhoodPlan([8], resolveSpec(1, { kernelSize: 4, stride: 2, isCausal: true }));
    expect(keysOf(causal, 2)).toEqual([0, 1, 2, -1]);
    expect(keysOf(causal, 3)).toEqual([0, 1, 2, 3]);
    expect(keysOf(causal, 4)).toEqual([2, 3, 4, -1]);
    // Dilation 2, L=9: the odd positions 1,3,5,7 form a group of length 4; query 7 is its last, so its window is 3,5,7.
    const dil = neighborhoodPlan([9], resolveSpec(1, { kernelSize: 3, dilation: 2 }));
    expect(keysOf(dil, 7)).toEqual([3, 5, 7]);
    expect(keysOf(dil, 8)).toEqual([4, 6, 8]);
    expect(keysOf(dil, 0)).toEqual([0, 2, 4]);
  });

  it('rejects kernel*dilation > length, RPB with even kernels and RPB with causal masks', () => {
    expect(() => neighborhoodAttention(tf.zeros([1, 6, 1, 2]), tf.zeros([1, 6, 1, 2]), tf.zeros([1, 6, 1, 2]), { kernelSize: 4, dilation: 2 })).toThrow(/exceeds/);
    const z = tf.zeros([1, 6, 1, 2]);
    expect(() => neighborhoodAttention(z, z, z, { kernelSize: 4, rpb: tf.zeros([1, 7]) })).toThrow(/odd kernel/);
    expect(() => neighborhoodAttention(z, z, z, { kernelSize: 3, isCausal: true, rpb: tf.zeros([1, 5]) })).toThrow(/causal/);
  });
});

for (const backend of ['wasm', 'cpu'] as const) {
  describe(`neighborhood attention vs brute force on ${backend}`, () => {
    beforeAll(async () => {
      await useBackend(backend);
    });
    afterAll(async () => {
      await useBackend(process.env.VIZOO_TEST_BACKEND ?? 'wasm');
    });
    it('composite and fused match on 40 random NA / DiNA / GNA configurations', () => {
      configs.forEach((c, i) => {
        const x = inputsFor(c, 1000 + i);
        const want = bruteForce(c, x.q, x.k, x.v, x.rpb);
        const what = `${JSON.stringify(c)}`;
        expect(maxDiff(run(c, x, 'composite'), want), what).toBeLessThan(2e-5);
        expect(maxDiff(run(c, x, 'fused'), want), what).toBeLessThan(2e-5);
      });
    });
  });
}

describe('neighborhood attention gradients (cpu)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  afterAll(async () => {
    await useBackend(process.env.VIZOO_TEST_BACKEND ?? 'wasm');
  });

  /** d(sum(w * y))/d(input) by central differences on the float64 brute force. */
  function finiteDifference(c: Config, x: ReturnType<typeof inputsFor>, w: Float64Array, which: 'q' | 'k' | 'v' | 'rpb'): Float64Array {
    const base = x[which]!;
    const g = new Float64Array(base.length);
    const h = 1e-5;
    for (let i = 0; i < base.length; i++) {
      const keep = base[i]!;
      base[i] = keep + h;
      const up = bruteForce(c, x.q, x.k, x.v, x.rpb);
      base[i] = keep - h;
      const down = bruteForce(c, x.q, x.k, x.v, x.rpb);
      base[i] = keep;
      let s = 0;
      for (let j = 0; j < w.length; j++) s += w[j]! * (up[j]! - down[j]!);
      g[i] = s / (2 * h);
    }
    return g;
  }

  const gradConfigs: Config[] = [
    { batch: 2, spatial: [5, 6], heads: 2, headDim: 3, spec: resolveSpec(2, { kernelSize: 3, dilation: [1, 2] }), rpb: true },
    { batch: 1, spatial: [7], heads: 2, headDim: 2, spec: resolveSpec(1, { kernelSize: 4, stride: 2, isCausal: true }), rpb: false },
    { batch: 1, spatial: [6, 5], heads: 1, headDim: 3, spec: resolveSpec(2, { kernelSize: [4, 3], stride: [2, 3], isCausal: [false, true] }), rpb: false },
  ];

  for (const impl of ['composite', 'fused'] as const) {
    it(`${impl} gradients match finite differences`, () => {
      gradConfigs.forEach((c, ci) => {
        const x = inputsFor(c, 77 + ci);
        const n = c.spatial.reduce((a, b) => a * b, 1);
        const shape = [c.batch, ...c.spatial, c.heads, c.headDim];
        const tableShape = [c.heads, ...c.spec.kernelSize.map((k) => 2 * k - 1)];
        const w = randn(new Rng(5 + ci), c.batch * n * c.heads * c.headDim);
        const names = (c.rpb ? ['q', 'k', 'v', 'rpb'] : ['q', 'k', 'v']) as ('q' | 'k' | 'v' | 'rpb')[];
        const grads = tf.tidy(() => {
          const t = (a: Float64Array, s: number[]) => tf.tensor(Float32Array.from(a), s);
          const ins = [t(x.q, shape), t(x.k, shape), t(x.v, shape), ...(c.rpb ? [t(x.rpb!, tableShape)] : [])];
          const wt = t(w, shape);
          const f = (...a: tf.Tensor[]) => tf.sum(tf.mul(neighborhoodAttention(a[0]!, a[1]!, a[2]!, { ...c.spec, rpb: a[3] ?? null, impl }), wt));
          return tf.grads(f)(ins).map((g) => g.dataSync() as Float32Array);
        });
        names.forEach((name, i) => {
          const fd = finiteDifference(c, x, w, name);
          const scaleRef = Math.max(1, ...Array.from(fd, Math.abs));
          expect(maxDiff(grads[i]!, fd) / scaleRef, `${impl} d${name} config ${ci}`).toBeLessThan(1e-3);
        });
      });
    });
  }

  it('the tfjs-op VJP (gradient of the WGSL kernel) equals composite autodiff', () => {
    const c = gradConfigs[0]!;
    const x = inputsFor(c, 91);
    const n = c.spatial.reduce((a, b) => a * b, 1);
    const shape = [c.batch, n, c.heads, c.headDim];
    tf.tidy(() => {
      const t = (a: Float64Array, s: number[]) => tf.tensor(Float32Array.from(a), s);
      const ins = [t(x.q, shape), t(x.k, shape), t(x.v, shape), t(x.rpb!, [c.heads, 25])];
      const dy = t(randn(new Rng(3), c.batch * n * c.heads * c.headDim), shape);
      const plan = neighborhoodPlan(c.spatial, c.spec);
      const full = [c.batch, ...c.spatial, c.heads, c.headDim];
      const rpbShape = [c.heads, 5, 5];
      const auto = tf.grads((...a: tf.Tensor[]) =>
        tf.sum(tf.mul(neighborhoodAttention(tf.reshape(a[0]!, full), tf.reshape(a[1]!, full), tf.reshape(a[2]!, full), { ...c.spec, rpb: tf.reshape(a[3]!, rpbShape), impl: 'composite' }), tf.reshape(dy, full))),
      )(ins);
      const manual = compositeBackward(ins[0]!, ins[1]!, ins[2]!, tf.reshape(ins[3]!, rpbShape), dy, plan, c.headDim ** -0.5);
      auto.forEach((g, i) => expect(maxDiff(g.dataSync(), tf.reshape(manual[i]!, g.shape).dataSync())).toBeLessThan(1e-5));
    });
  });
});
