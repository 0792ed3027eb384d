// A float64 step-by-step GLA scan in plain TypeScript, independent of tfjs: the reference the tfjs
// implementations are tested against. Arrays are (B, H, L, D) row-major.
export interface GlaInputs {
  shape: { b: number; h: number; l: number; dk: number; dv: number };
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  gf: Float64Array;
  gb: Float64Array;
}

export function scanReference(x: GlaInputs, gates: Float64Array, reverse: boolean, scale: number): Float64Array {
  const { b, h, l, dk, dv } = x.shape;
  const out = new Float64Array(b * h * l * dv);
  for (let g = 0; g < b * h; g++) {
    const s = new Float64Array(dk * dv);
    for (let step = 0; step < l; step++) {
      const t = reverse ? l - 1 - step : step;
      const row = g * l + t;
      for (let i = 0; i < dk; i++) {
        const decay = Math.exp(gates[row * dk + i]!);
        const ki = x.k[row * dk + i]!;
        for (let j = 0; j < dv; j++) s[i * dv + j] = s[i * dv + j]! * decay + ki * x.v[row * dv + j]!;
      }
      for (let j = 0; j < dv; j++) {
        let acc = 0;
        for (let i = 0; i < dk; i++) acc += scale * x.q[row * dk + i]! * s[i * dv + j]!;
        out[row * dv + j] = acc;
      }
    }
  }
  return out;
}

export function bidReference(x: GlaInputs, scale: number): Float64Array {
  const f = scanReference(x, x.gf, false, scale);
  const r = scanReference(x, x.gb, true, scale);
  return f.map((a, i) => (a + r[i]!) / 2);
}

/** Seeded inputs; gates = logsigmoid(z) / normalizer - extra, as ViG makes them (extra makes them strongly negative). */
export function randomGla(seed: number, shape: GlaInputs['shape'], gate: { normalizer?: number; extra?: number; zScale?: number } = {}): GlaInputs {
  let st = seed >>> 0 || 1;
  const rnd = () => {
    st = (Math.imul(st, 1664525) + 1013904223) >>> 0;
    return st / 2 ** 32;
  };
  const normal = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const { b, h, l, dk, dv } = shape;
  const arr = (n: number, f: () => number) => Float64Array.from({ length: n }, f);
  const nk = b * h * l * dk;
  const logsig = (z: number) => -Math.log1p(Math.exp(-z));
  const gateFn = () => logsig((gate.zScale ?? 2) * normal()) / (gate.normalizer ?? 16) - (gate.extra ?? 0) * rnd();
  // Round to float32 so the tfjs inputs equal the reference inputs exactly.
  const f32 = (a: Float64Array) => a.map((v) => Math.fround(v));
  return {
    shape,
    q: f32(arr(nk, normal)),
    k: f32(arr(nk, normal)),
    v: f32(arr(b * h * l * dv, normal)),
    gf: f32(arr(nk, gateFn)),
    gb: f32(arr(nk, gateFn)),
  };
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}
