/**
 * Lazy layouts for the ONNX graph builder. vizoo computes in NHWC; ONNX runtimes want NCHW convolutions and
 * fuse chains of ops only when no layout shuffles sit between them. So a traced tfjs value T is held as an
 * ONNX value O plus a view:
 *
 *     T = reshape(transpose(O, perm), T.shape)
 *
 * Reshapes and transposes of the forward only change the view (no node). Ops that need a layout ask for it
 * (convolutions, pools and resizes take NCHW; anything layout-blind takes T itself, materialized), while
 * elementwise ops, reductions, slices, pads and concats run on O in whatever layout it has, with their
 * axes and broadcast operands mapped into O's layout. An NHWC forward thus exports as an NCHW graph with
 * transposes only where a value really changes layout (maps <-> token sequences), as in PyTorch code.
 *
 * Shapes are kept per trace (one trace, or two for a dynamic batch): a mapping of axes must hold in both.
 */
import { ElemType, type GValueInfo, type GraphBuilder, Is, type InitTensor, boolTensor, floatTensor, int64Tensor } from './graph.js';

/** One shape per trace. */
export type Shapes = number[][];

export interface Held {
  /** The ONNX value O. */
  name: string;
  /** O's shape per trace. */
  o: Shapes;
  /** T = reshape(transpose(O, perm), t). */
  perm: number[];
  /** T's shape per trace. */
  t: Shapes;
  /** tfjs dtype. */
  dtype: string;
  /** Constants: the values, in T's (row-major tfjs) order. */
  data?: Float32Array | Int32Array | Uint8Array;
}

export const NHWC_TO_NCHW = [0, 3, 1, 2];
export const NCHW_TO_NHWC = [0, 2, 3, 1];

export const identityPerm = (n: number): number[] => Array.from({ length: n }, (_, i) => i);
const isIdentity = (p: number[]) => p.every((v, i) => v === i);
const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const sameShapes = (a: Shapes, b: Shapes) => a.length === b.length && a.every((s, i) => same(s, b[i]!));
export const invertPerm = (p: number[]): number[] => {
  const inv = new Array<number>(p.length);
  p.forEach((v, i) => (inv[v] = i));
  return inv;
};
const permute = (s: number[], p: number[]) => p.map((i) => s[i]!);
const stripOnes = (s: number[]) => {
  const i = s.findIndex((d) => d !== 1);
  return i < 0 ? [] : s.slice(i);
};

/** Shapes of transpose(O, perm) per trace. */
export function pShapes(h: Held): Shapes {
  return h.o.map((s) => permute(s, h.perm));
}

/** O is T itself. */
export function isPlain(h: Held): boolean {
  return isIdentity(h.perm) && sameShapes(h.o, h.t);
}

/** T is transpose(O, perm) without a reshape. */
export function isTrivial(h: Held): boolean {
  return sameShapes(pShapes(h), h.t);
}

/** A held value that is T itself. */
export function plainHeld(name: string, t: Shapes, dtype: string, data?: Held['data']): Held {
  return { name, o: t, perm: identityPerm(t[0]!.length), t, dtype, data };
}

interface Group {
  /** Axes of P = transpose(O, perm) (dims other than 1). */
  p: number[];
  /** Axes of T (dims other than 1). */
  t: number[];
}

/**
 * The reshape P -> T as groups of consecutive axes with equal sizes (size-1 axes left out): each group of
 * P's axes is merged or split into its group of T's axes. Null when the grouping differs between traces.
 */
function groupsOf(h: Held): Group[] | null {
  const ps = pShapes(h);
  let first: Group[] | null = null;
  for (let k = 0; k < ps.length; k++) {
    const p = ps[k]!;
    const t = h.t[k]!;
    const pi = p.flatMap((d, i) => (d === 1 ? [] : [i]));
    const ti = t.flatMap((d, i) => (d === 1 ? [] : [i]));
    const gs: Group[] = [];
    let i = 0;
    let j = 0;
    while (i < pi.length || j < ti.length) {
      if (i >= pi.length || j >= ti.length) return null;
      const g: Group = { p: [pi[i]!], t: [ti[j]!] };
      let a = p[pi[i++]!]!;
      let b = t[ti[j++]!]!;
      while (a !== b) {
        if (a < b) {
          if (i >= pi.length) return null;
          g.p.push(pi[i]!);
          a *= p[pi[i++]!]!;
        } else {
          if (j >= ti.length) return null;
          g.t.push(ti[j]!);
          b *= t[ti[j++]!]!;
        }
      }
      gs.push(g);
    }
    if (!first) first = gs;
    else if (first.length !== gs.length || first.some((g, n) => !same(g.p, gs[n]!.p) || !same(g.t, gs[n]!.t))) return null;
  }
  return first;
}

/** O axes of size 1 in every trace. */
function unitAxes(h: Held): number[] {
  return h.o[0]!.flatMap((_, i) => (h.o.every((s) => s[i] === 1) ? [i] : []));
}

/** The view of transpose(T, t), or null when T's reshape does not commute with it. */
export function transposeHeld(h: Held, t: number[]): Held | null {
  const tShapes = h.t.map((s) => permute(s, t));
  const base = { ...h, t: tShapes, data: h.data && transposeData(h.data, h.t[0]!, t) };
  if (isTrivial(h)) return { ...base, perm: t.map((i) => h.perm[i]!) };
  const gs = groupsOf(h);
  if (gs) {
    const groupOf = new Map<number, number>();
    gs.forEach((g, n) => g.t.forEach((a) => groupOf.set(a, n)));
    // In T's new order, each group's axes must stay together and in order.
    const seq = t.filter((a) => groupOf.has(a));
    let ok = true;
    for (let i = 0; i < seq.length && ok; i++) {
      const g = gs[groupOf.get(seq[i]!)!]!;
      const at = g.t.indexOf(seq[i]!);
      if (at > 0 && seq[i - 1] !== g.t[at - 1]) ok = false;
      if (at === 0 && g.t.length > 1 && seq[i + 1] !== g.t[1]) ok = false;
    }
    if (ok) {
      const units = unitAxes(h).filter((a) => !gs.some((g) => g.p.some((pa) => h.perm[pa] === a)));
      const perm: number[] = [];
      for (const a of t) {
        const n = groupOf.get(a);
        if (n === undefined) {
          if (units.length) perm.push(units.shift()!);
        } else if (gs[n]!.t[0] === a) perm.push(...gs[n]!.p.map((pa) => h.perm[pa]!));
      }
      perm.push(...units);
      if (perm.length === h.perm.length) return { ...base, perm };
    }
  }
  return null;
}

/** The view of T reshaped (always lazy). */
export function reshapeHeld(h: Held, t: Shapes): Held {
  return { ...h, t };
}

/**
 * O axes that hold exactly T's axes `tAxes` (whole groups; size-1 axes of T are free), or null when some
 * group is only partly in `tAxes`.
 */
export function axesInO(h: Held, tAxes: number[]): number[] | null {
  if (isTrivial(h)) return tAxes.map((a) => h.perm[a]!).sort((a, b) => a - b);
  const gs = groupsOf(h);
  if (!gs) return null;
  const want = new Set(tAxes);
  const out: number[] = [];
  for (const g of gs) {
    const n = g.t.filter((a) => want.has(a)).length;
    if (n > 0 && n < g.t.length) return null;
    if (n) out.push(...g.p.map((pa) => h.perm[pa]!));
  }
  return out.sort((a, b) => a - b);
}

/** The single O axis holding T's axis `a` alone, or null. */
export function axisInO(h: Held, a: number): number | null {
  if (isTrivial(h)) return h.perm[a]!;
  const gs = groupsOf(h);
  const g = gs?.find((x) => x.t.includes(a));
  return g && g.t.length === 1 && g.p.length === 1 ? h.perm[g.p[0]!]! : null;
}

/**
 * The shape (per trace), in O's layout, of an operand that broadcasts against T with shape `c` (rank <=
 * T's), and the same in P's layout; null when the operand's broadcast does not follow O's groups.
 */
export function shapeInO(h: Held, c: Shapes): { o: Shapes; p: Shapes } | null {
  const rank = h.t[0]!.length;
  if (c[0]!.length > rank) return null;
  const pad = (s: number[]) => [...new Array<number>(rank - s.length).fill(1), ...s];
  const ps = pShapes(h);
  const inv = invertPerm(h.perm);
  if (isTrivial(h)) {
    const p = c.map(pad);
    return { p, o: p.map((s) => permute(s, inv)) };
  }
  const gs = groupsOf(h);
  if (!gs) return null;
  const outP: Shapes = [];
  for (let k = 0; k < c.length; k++) {
    const cs = pad(c[k]!);
    const t = h.t[k]!;
    const p = new Array<number>(ps[k]!.length).fill(1);
    for (let a = 0; a < rank; a++) if (t[a] === 1 && cs[a] !== 1) return null;
    for (const g of gs) {
      const dims = g.t.map((a) => cs[a]!);
      if (dims.every((d) => d === 1)) continue;
      if (!g.t.every((a) => cs[a] === t[a])) return null;
      for (const pa of g.p) p[pa] = ps[k]![pa]!;
    }
    outP.push(p);
  }
  return { p: outP, o: outP.map((s) => permute(s, inv)) };
}

/** Host transpose of row-major `data` of `shape`. */
export function transposeData<T extends Float32Array | Int32Array | Uint8Array>(data: T, shape: number[], perm: number[]): T {
  if (isIdentity(perm)) return data;
  const rank = shape.length;
  const out = new (data.constructor as new (n: number) => T)(data.length);
  const outShape = permute(shape, perm);
  const inStrides = new Array<number>(rank).fill(1);
  for (let i = rank - 2; i >= 0; i--) inStrides[i] = inStrides[i + 1]! * shape[i + 1]!;
  const strides = perm.map((p) => inStrides[p]!);
  const idx = new Array<number>(rank).fill(0);
  for (let n = 0; n < out.length; n++) {
    let src = 0;
    for (let d = 0; d < rank; d++) src += idx[d]! * strides[d]!;
    out[n] = data[src]!;
    for (let d = rank - 1; d >= 0; d--) {
      if (++idx[d]! < outShape[d]!) break;
      idx[d] = 0;
    }
  }
  return out;
}

/** The ONNX constant for host values of tfjs dtype `dtype`. */
export function constTensor(dtype: string, data: Float32Array | Int32Array | Uint8Array, dims: number[]): InitTensor {
  if (dtype === 'float32') return floatTensor(data, dims);
  if (dtype === 'int32') return int64Tensor(data, dims);
  return boolTensor(data, dims);
}

export interface LayoutHost {
  g: GraphBuilder;
  /** An int64 shape tensor for per-trace shapes (batch-dependent dims computed from the input). */
  shapeTarget(shapes: Shapes): string;
  /** Value info for per-trace shapes. */
  info(dtype: string, shapes: Shapes): GValueInfo;
}

/** Materializes views as ONNX values (memoized: one Transpose per value and layout at most). */
export class Layouts {
  private readonly cache = new Map<string, string>();

  constructor(private readonly host: LayoutHost) {}

  private key(h: Held, what: string): string {
    return `${what}|${h.name}|${h.perm}|${h.t.map((s) => s.join('x')).join(';')}`;
  }

  private memo(h: Held, what: string, make: () => string): string {
    const k = this.key(h, what);
    let v = this.cache.get(k);
    if (v === undefined) {
      v = make();
      this.cache.set(k, v);
    }
    return v;
  }

  /** Reshape of `x` (held with per-trace shapes `from`) to `to`; none when they agree. */
  reshape(x: string, from: Shapes, to: Shapes, dtype: string): string {
    if (sameShapes(from, to)) return x;
    return this.host.g.op('Reshape', [x, this.host.shapeTarget(to)], {}, this.host.info(dtype, to));
  }

  /** T as an ONNX value. */
  plain(h: Held): string {
    if (isPlain(h)) return h.name;
    return this.memo(h, 'plain', () => {
      const { g } = this.host;
      const ps = pShapes(h);
      // A permutation that only moves size-1 axes is a reshape.
      const moved = h.perm.filter((a) => h.o.some((s) => s[a] !== 1));
      let x = h.name;
      let cur = h.o;
      if (!moved.every((a, i) => i === 0 || a > moved[i - 1]!)) {
        x = g.op('Transpose', [x], { perm: Is(h.perm) }, this.host.info(h.dtype, ps));
        cur = ps;
      }
      return this.reshape(x, cur, h.t, h.dtype);
    });
  }

  /** P = transpose(O, perm) as an ONNX value (T up to a reshape). */
  permuted(h: Held): string {
    if (isIdentity(h.perm)) return h.name;
    return this.memo(h, 'permuted', () => this.host.g.op('Transpose', [h.name], { perm: Is(h.perm) }, this.host.info(h.dtype, pShapes(h))));
  }

  /** A held value that is T itself (materialized). */
  plainHeld(h: Held): Held {
    return isPlain(h) ? h : plainHeld(this.plain(h), h.t, h.dtype, h.data);
  }

  /** transpose(T, t) as an ONNX value. */
  transposed(h: Held, t: number[]): string {
    return this.plain(this.transposedHeld(h, t));
  }

  /** The view of transpose(T, t) (T materialized first when its reshape does not commute with t). */
  transposedHeld(h: Held, t: number[]): Held {
    return transposeHeld(h, t) ?? transposeHeld(this.plainHeld(h), t)!;
  }

  /** O such that T = transpose(O, perm). */
  inLayout(h: Held, perm: number[]): string {
    return this.transposed(h, invertPerm(perm));
  }

  /** A rank-4 NHWC T as an NCHW ONNX value. */
  nchw(h: Held): string {
    return this.transposed(h, NHWC_TO_NCHW);
  }

  /**
   * `operand` (broadcasting against T of `target`) in target's O layout, or null when its broadcast does
   * not follow target's layout.
   */
  operandIn(target: Held, operand: Held): string | null {
    const s = shapeInO(target, operand.t);
    if (!s) return null;
    if (operand.perm.length === target.perm.length && same(operand.perm, target.perm) && sameShapes(operand.o, s.o) && !isPlain(target)) return operand.name;
    if (isPlain(target)) return this.plain(operand);
    // Broadcasting aligns trailing axes: leading 1s need no reshape.
    if (isPlain(operand) && operand.t[0]!.length <= s.o[0]!.length && s.o.every((o, k) => same(stripOnes(o), stripOnes(operand.t[k]!)))) return operand.name;
    const size = operand.t[0]!.reduce((a, b) => a * b, 1);
    const inv = invertPerm(target.perm);
    if (operand.data && operand.t.length >= 1 && operand.t.every((x) => same(x, operand.t[0]!))) {
      // Constants: reordered on the host (a single value stays a scalar).
      if (size === 1) return this.host.g.constant(constTensor(operand.dtype, operand.data, []));
      const data = transposeData(operand.data, s.p[0]!, inv);
      return this.host.g.constant(constTensor(operand.dtype, data, s.o[0]!));
    }
    return this.memo(operand, `in:${target.perm}:${s.o.map((x) => x.join('x')).join(';')}`, () => {
      const x = this.plain(operand);
      const moved = inv.filter((a) => s.p.some((p) => p[a] !== 1));
      if (moved.every((a, i) => i === 0 || a > moved[i - 1]!)) return this.reshape(x, operand.t, s.o, operand.dtype);
      const r = this.reshape(x, operand.t, s.p, operand.dtype);
      return this.host.g.op('Transpose', [r], { perm: Is(inv) }, this.host.info(operand.dtype, s.o));
    });
  }
}

export { ElemType };
