/**
 * Pattern passes over an exported graph, so that runtimes see the standard forms their optimizers fuse:
 * duplicate nodes merged, the erf GELU in PyTorch's exported form (onnxruntime fuses it into Gelu),
 * LayerNormalization (opset 17) for mean/variance normalizations over one axis, 1-D Conv biases, a
 * BatchNormalization folded into the padding-free Conv it feeds (exact: y = x*s + t commutes with a conv
 * that never sees padding), per-channel layer scales folded into the Conv before them (and VAN's layer-scaled
 * attention shortcut x + c (Conv + BN(x)) into one batch norm of x), Gemm with the weight's PyTorch (out, in) layout (transB) for linear layers on
 * rows, GlobalAveragePool for spatial means, ReduceL2 / ReduceSumSquare for sums of squares over innermost
 * axes and a MatMul with a row of ones over middle axes. Folded parameters are computed by constant nodes over the
 * original initializers (runtimes fold them at load), so the file still holds the state dict by its keys.
 */
import { F, type GNode, type GraphBuilder, I, Is, dependsOnInitializers, floatTensor } from './graph.js';

const SQRT2 = Math.SQRT2;

class Index {
  readonly producer = new Map<string, GNode>();
  readonly consumers = new Map<string, GNode[]>();
  private readonly memo = new Map<string, boolean>();

  constructor(readonly g: GraphBuilder) {
    for (const n of g.nodes) {
      for (const o of n.outputs) this.producer.set(o, n);
      for (const i of n.inputs) if (i) this.consumers.set(i, [...(this.consumers.get(i) ?? []), n]);
    }
    for (const o of g.outputs) this.consumers.set(o, [...(this.consumers.get(o) ?? []), { op: '<output>', inputs: [o], outputs: [], attrs: {} }]);
  }

  isConst(name: string): boolean {
    return dependsOnInitializers(name, this.g.initializers, this.producer, this.memo);
  }

  /** The only consumer of `name`, or null. */
  sole(name: string): GNode | null {
    const cs = this.consumers.get(name) ?? [];
    return cs.length === 1 ? cs[0]! : null;
  }

  /** A scalar (or single-element) float initializer's value. */
  scalar(name: string): number | null {
    const t = this.g.initializers.get(name);
    if (!t || t.dtype !== 1 || t.raw.byteLength !== 4) return null;
    return new Float32Array(t.raw.slice().buffer)[0]!;
  }

  /** The static shape of a value (initializer dims or recorded value info). */
  shape(name: string): (number | string)[] | undefined {
    return this.g.initializers.get(name)?.dims ?? this.g.info.get(name)?.shape;
  }
}

const near = (a: number | null, b: number) => a !== null && Math.abs(a - b) <= 1e-6 * Math.abs(b);
const other = (n: GNode, x: string) => (n.inputs[0] === x ? n.inputs[1]! : n.inputs[0]!);
const attrInts = (n: GNode, k: string) => (n.attrs[k] as { ints: number[] } | undefined)?.ints;
const attrInt = (n: GNode, k: string) => (n.attrs[k] as { i: number } | undefined)?.i;

/** Replaces node `at` by `nodes`, in place (the node list stays in topological order). */
function replace(g: GraphBuilder, at: GNode, nodes: GNode[]): void {
  g.nodes.splice(g.nodes.indexOf(at), 1, ...nodes);
}

/** `node` takes over the output of `add` (its only consumer, now part of it); `pre` goes before it. */
function absorb(g: GraphBuilder, node: GNode, add: GNode, pre: GNode[]): void {
  node.outputs = [add.outputs[0]!];
  g.nodes.splice(g.nodes.indexOf(add), 1);
  g.nodes.splice(g.nodes.indexOf(node), 0, ...pre);
}

/** A node for `pre` (nodes to insert before their user); returns its output. */
function pending(g: GraphBuilder, pre: GNode[], op: string, inputs: string[], attrs: GNode['attrs'] = {}): string {
  const out = g.fresh(op.toLowerCase());
  pre.push({ op, inputs, outputs: [out], attrs });
  return out;
}

/** Identical nodes (same op, inputs and attributes) computed once. */
export function mergeDuplicates(g: GraphBuilder): boolean {
  const seen = new Map<string, GNode>();
  const rename = new Map<string, string>();
  let changed = false;
  for (const n of g.nodes) {
    n.inputs = n.inputs.map((i) => rename.get(i) ?? i);
    const key = `${n.op}|${n.inputs.join(',')}|${JSON.stringify(n.attrs)}|${n.outputs.length}`;
    const first = seen.get(key);
    if (first && !n.outputs.some((o) => g.outputs.includes(o))) {
      n.outputs.forEach((o, k) => rename.set(o, first.outputs[k]!));
      changed = true;
    } else seen.set(key, n);
  }
  return changed;
}

/**
 * x * 0.5 * (1 + erf(x / sqrt 2)) with the erf input written Mul(x, 1/sqrt 2) or Div(x, sqrt 2) and the
 * 0.5 on either side, rewritten as PyTorch exports it: Div, Erf, Add 1, Mul x, Mul 0.5.
 */
function canonicalGelu(g: GraphBuilder, ix: Index): boolean {
  for (const erf of g.nodes) {
    if (erf.op !== 'Erf') continue;
    const s = ix.producer.get(erf.inputs[0]!);
    if (!s || !(s.op === 'Mul' || s.op === 'Div') || ix.sole(s.outputs[0]!) !== erf) continue;
    const x = s.op === 'Div' ? s.inputs[0]! : ix.scalar(s.inputs[1]!) !== null ? s.inputs[0]! : s.inputs[1]!;
    const k = ix.scalar(other(s, x));
    if (!(s.op === 'Div' ? near(k, SQRT2) && s.inputs[0] === x : near(k, Math.SQRT1_2))) continue;
    const add = ix.sole(erf.outputs[0]!);
    if (add?.op !== 'Add' || !near(ix.scalar(other(add, erf.outputs[0]!)), 1)) continue;
    const mul = ix.sole(add.outputs[0]!);
    if (mul?.op !== 'Mul') continue;
    const half = ix.producer.get(other(mul, add.outputs[0]!));
    // Already PyTorch's form: Mul(x, add) -> Mul 0.5.
    if (s.op === 'Div' && other(mul, add.outputs[0]!) === x) continue;
    if (half?.op !== 'Mul' || !half.inputs.includes(x) || !near(ix.scalar(other(half, x)), 0.5)) continue;
    const div = g.fresh('div');
    const m = g.fresh('mul');
    s.op = 'Div';
    s.inputs = [x, g.scalarFloat(SQRT2)];
    s.outputs = [div];
    erf.inputs = [div];
    const out = mul.outputs[0]!;
    replace(g, mul, [
      { op: 'Mul', inputs: [x, add.outputs[0]!], outputs: [m], attrs: {} },
      { op: 'Mul', inputs: [m, g.scalarFloat(0.5)], outputs: [out], attrs: {} },
    ]);
    return true;
  }
  return false;
}

/**
 * A constant broadcasting along one axis (of `rank`) only, as a 1-D value of `n` elements (a reshape node
 * goes to `pre`); null otherwise.
 */
function perAxis(g: GraphBuilder, ix: Index, pre: GNode[], name: string, rank: number, axis: number, n: number): string | null {
  if (!ix.isConst(name)) return null;
  const s = ix.shape(name);
  if (!s || s.some((d) => typeof d !== 'number') || s.length > rank) return null;
  const full = [...new Array<number>(rank - s.length).fill(1), ...(s as number[])];
  if (!full.every((d, i) => (i === axis ? d === n || d === 1 : d === 1))) return null;
  if (full[axis] === 1 && n !== 1) return null;
  if (s.length === 1) return name;
  // Look through a reshape of a 1-D source.
  const p = ix.producer.get(name);
  if (p?.op === 'Reshape' && ix.shape(p.inputs[0]!)?.length === 1) return p.inputs[0]!;
  return pending(g, pre, 'Reshape', [name, g.ints([n])]);
}

/**
 * (x - mean) * rsqrt(var + eps) [* gamma] [+ beta] over one axis -> LayerNormalization. ONNX normalizes the
 * trailing axes, so an inner axis is moved last and back.
 */
function layerNorm(g: GraphBuilder, ix: Index): boolean {
  for (const m of g.nodes) {
    if (m.op !== 'ReduceMean' || attrInt(m, 'keepdims') === 0) continue;
    const axes = attrInts(m, 'axes');
    const x = m.inputs[0]!;
    const rank = ix.shape(x)?.length;
    if (!axes || axes.length !== 1 || !rank) continue;
    const axis = axes[0]! < 0 ? axes[0]! + rank : axes[0]!;
    const c = ix.shape(x)![axis];
    if (typeof c !== 'number') continue;
    const sub = (ix.consumers.get(m.outputs[0]!) ?? []).find((n) => n.op === 'Sub' && n.inputs[0] === x && n.inputs[1] === m.outputs[0]);
    if (!sub) continue;
    const d = sub.outputs[0]!;
    const uses = ix.consumers.get(d) ?? [];
    const sq = uses.find((n) => (n.op === 'Mul' && n.inputs[0] === d && n.inputs[1] === d) || (n.op === 'Pow' && n.inputs[0] === d && near(ix.scalar(n.inputs[1]!), 2)));
    const v = sq && ix.sole(sq.outputs[0]!);
    if (v?.op !== 'ReduceMean' || attrInts(v, 'axes')?.join() !== axes.join() || attrInt(v, 'keepdims') === 0) continue;
    const addEps = ix.sole(v.outputs[0]!);
    const eps = addEps?.op === 'Add' ? ix.scalar(other(addEps, v.outputs[0]!)) : null;
    if (eps === null) continue;
    const sqrt = ix.sole(addEps!.outputs[0]!);
    if (sqrt?.op !== 'Sqrt') continue;
    // d / sqrt(...) or d * reciprocal(sqrt(...))
    let norm: GNode | null = null;
    const after = ix.sole(sqrt.outputs[0]!);
    if (after?.op === 'Div' && after.inputs[0] === d) norm = after;
    else if (after?.op === 'Reciprocal') {
      const r = after.outputs[0]!;
      norm = uses.find((n) => n.op === 'Mul' && n.inputs.includes(r) && other(n, r) === d) ?? null;
    }
    if (!norm) continue;
    let last = norm;
    let gamma: string | null = null;
    let beta: string | null = null;
    const pre: GNode[] = [];
    const mulG = ix.sole(last.outputs[0]!);
    if (mulG?.op === 'Mul') {
      gamma = perAxis(g, ix, pre, other(mulG, last.outputs[0]!), rank, axis, c);
      if (gamma) last = mulG;
    }
    const addB = ix.sole(last.outputs[0]!);
    if (addB?.op === 'Add') {
      beta = perAxis(g, ix, pre, other(addB, last.outputs[0]!), rank, axis, c);
      if (beta) last = addB;
    }
    const fill = (v: number) => g.constant({ dtype: 1, dims: [c], raw: new Uint8Array(Float32Array.from(new Array<number>(c).fill(v)).buffer) });
    const out = last.outputs[0]!;
    const ln = { op: 'LayerNormalization', attrs: { axis: I(-1), epsilon: F(eps) } };
    const params = [gamma ?? fill(1), ...(beta ? [beta] : [])];
    if (axis === rank - 1) {
      replace(g, last, [...pre, { ...ln, inputs: [x, ...params], outputs: [out] }]);
    } else {
      const toLast = [...Array.from({ length: rank }, (_, i) => i).filter((i) => i !== axis), axis];
      const back = toLast.map((_, i) => toLast.indexOf(i));
      const t = g.fresh('transpose');
      const y = g.fresh('layernorm');
      replace(g, last, [
        ...pre,
        { op: 'Transpose', inputs: [x], outputs: [t], attrs: { perm: Is(toLast) } },
        { ...ln, inputs: [t, ...params], outputs: [y] },
        { op: 'Transpose', inputs: [y], outputs: [out], attrs: { perm: Is(back) } },
      ]);
    }
    return true;
  }
  return false;
}

/** Conv followed by Add of a per-output-channel constant: the Conv's own bias input. */
function convBias(g: GraphBuilder, ix: Index): boolean {
  for (const conv of g.nodes) {
    if (conv.op !== 'Conv') continue;
    const add = ix.sole(conv.outputs[0]!);
    if (add?.op !== 'Add') continue;
    const w = ix.shape(conv.inputs[1]!);
    const rank = ix.shape(conv.outputs[0]!)?.length ?? w?.length;
    if (!w || typeof w[0] !== 'number' || !rank) continue;
    const pre: GNode[] = [];
    const b = perAxis(g, ix, pre, other(add, conv.outputs[0]!), rank, 1, w[0]);
    if (!b) continue;
    const bias = conv.inputs[2] ? pending(g, pre, 'Add', [conv.inputs[2], b]) : b;
    conv.inputs = [conv.inputs[0]!, conv.inputs[1]!, bias];
    absorb(g, conv, add, pre);
    return true;
  }
  return false;
}

/**
 * BatchNormalization whose only consumer is a Conv without padding or groups: y = x * s + t per input
 * channel, so Conv(y, W, B) = Conv(x, W * s, B + sum(W * t)).
 */
function foldBatchNormIntoConv(g: GraphBuilder, ix: Index): boolean {
  for (const bn of g.nodes) {
    if (bn.op !== 'BatchNormalization' || bn.outputs.length !== 1 || !bn.inputs.slice(1).every((i) => ix.isConst(i))) continue;
    const conv = ix.sole(bn.outputs[0]!);
    if (conv?.op !== 'Conv' || conv.inputs[0] !== bn.outputs[0] || !ix.isConst(conv.inputs[1]!)) continue;
    if ((attrInt(conv, 'group') ?? 1) !== 1 || (attrInts(conv, 'pads') ?? []).some((p) => p !== 0)) continue;
    if (conv.attrs.auto_pad && (conv.attrs.auto_pad as { s: string }).s !== 'NOTSET') continue;
    const w = ix.shape(conv.inputs[1]!);
    if (!w || w.length !== 4 || typeof w[1] !== 'number') continue;
    const [, scale, offset, mean, variance] = bn.inputs as [string, string, string, string, string];
    const eps = (bn.attrs.epsilon as { f: number } | undefined)?.f ?? 1e-5;
    const nodes: GNode[] = [];
    const op = (o: string, inputs: string[], attrs = {}) => pending(g, nodes, o, inputs, attrs);
    const s = op('Div', [scale, op('Sqrt', [op('Add', [variance, g.scalarFloat(eps)])])]);
    const t = op('Sub', [offset, op('Mul', [mean, s])]);
    const perIn = g.ints([1, w[1], 1, 1]);
    const weight = op('Mul', [conv.inputs[1]!, op('Reshape', [s, perIn])]);
    let bias = op('ReduceSum', [op('Mul', [conv.inputs[1]!, op('Reshape', [t, perIn])]), g.ints([1, 2, 3])], { keepdims: I(0) });
    if (conv.inputs[2]) bias = op('Add', [conv.inputs[2], bias]);
    conv.inputs = [bn.inputs[0]!, weight, bias];
    replace(g, bn, nodes);
    return true;
  }
  return false;
}

/** A Conv with a constant weight whose only consumer is `user`, or null. */
function constConvInto(ix: Index, name: string, user: GNode): GNode | null {
  const conv = ix.producer.get(name);
  if (conv?.op !== 'Conv' || ix.sole(name) !== user || !ix.isConst(conv.inputs[1]!) || (conv.inputs[2] && !ix.isConst(conv.inputs[2]))) return null;
  return typeof ix.shape(conv.inputs[1]!)?.[0] === 'number' ? conv : null;
}

const outChannels = (ix: Index, conv: GNode) => ix.shape(conv.inputs[1]!)![0] as number;

/** Scales a Conv's output channels by the 1-D constant `c` through its weight and bias (nodes go to `pre`). */
function scaleConv(g: GraphBuilder, ix: Index, conv: GNode, c: string, pre: GNode[]): void {
  const weight = pending(g, pre, 'Mul', [conv.inputs[1]!, pending(g, pre, 'Reshape', [c, g.ints([outChannels(ix, conv), 1, 1, 1])])]);
  conv.inputs = [conv.inputs[0]!, weight, ...(conv.inputs[2] ? [pending(g, pre, 'Mul', [conv.inputs[2], c])] : [])];
}

/**
 * Mul of a Conv's result by a per-output-channel constant (a layer scale) -> the Conv with its weight and
 * bias scaled: the residual Add after it then fuses into the conv in onnxruntime instead of running the Mul.
 */
function scaleIntoConv(g: GraphBuilder, ix: Index): boolean {
  for (const mul of g.nodes) {
    if (mul.op !== 'Mul') continue;
    for (const y of mul.inputs) {
      const conv = constConvInto(ix, y, mul);
      if (!conv) continue;
      const pre: GNode[] = [];
      const c = perAxis(g, ix, pre, other(mul, y), 4, 1, outChannels(ix, conv));
      if (!c) continue;
      scaleConv(g, ix, conv, c, pre);
      absorb(g, conv, mul, pre);
      return true;
    }
  }
  return false;
}

/**
 * VAN's layer-scaled attention residual x + c * (Conv(z) + BN(x)) (the attention's shortcut is its
 * normalized input) -> Conv'(z) + BN''(x): the layer scale goes into the Conv, and x + c BN(x) is one batch
 * norm of x with scale sqrt(var + eps) + c gamma and offset mean + c beta. The first BN then feeds only the
 * attention's 1x1 conv, which it folds into (foldBatchNormIntoConv): one elementwise pass per block instead
 * of two.
 */
function layerScaledShortcut(g: GraphBuilder, ix: Index): boolean {
  for (const out of g.nodes) {
    if (out.op !== 'Add') continue;
    for (const m of out.inputs) {
      const mul = ix.producer.get(m);
      const x = other(out, m);
      if (mul?.op !== 'Mul' || ix.sole(m) !== out) continue;
      const a = mul.inputs.map((i) => ix.producer.get(i)).find((n) => n?.op === 'Add' && ix.sole(n.outputs[0]!) === mul);
      if (!a) continue;
      const bnOut = a.inputs.find((i) => ix.producer.get(i)?.op === 'BatchNormalization');
      const bn = bnOut && ix.producer.get(bnOut)!;
      if (!bn || bn.inputs[0] !== x || bn.outputs.length !== 1 || !bn.inputs.slice(1).every((i) => ix.isConst(i))) continue;
      const conv = constConvInto(ix, other(a, bnOut), a);
      if (!conv) continue;
      // Constants (before the conv, which takes the scaled weight) and the new batch norm (before the sum).
      const consts: GNode[] = [];
      const c = perAxis(g, ix, consts, other(mul, a.outputs[0]!), 4, 1, outChannels(ix, conv));
      if (!c) continue;
      scaleConv(g, ix, conv, c, consts);
      const [, gamma, beta, mean, variance] = bn.inputs as [string, string, string, string, string];
      const eps = (bn.attrs.epsilon as { f: number } | undefined)?.f ?? 1e-5;
      const op = (o: string, inputs: string[]) => pending(g, consts, o, inputs);
      const scale = op('Add', [op('Sqrt', [op('Add', [variance, g.scalarFloat(eps)])]), op('Mul', [c, gamma])]);
      const offset = op('Add', [mean, op('Mul', [c, beta])]);
      const shortcut = g.fresh('batchnormalization');
      out.inputs = [conv.outputs[0]!, shortcut];
      g.nodes.splice(g.nodes.indexOf(mul), 1);
      g.nodes.splice(g.nodes.indexOf(a), 1);
      g.nodes.splice(g.nodes.indexOf(out), 0, { op: 'BatchNormalization', inputs: [x, scale, offset, mean, variance], outputs: [shortcut], attrs: { epsilon: F(eps) } });
      g.nodes.splice(g.nodes.indexOf(conv), 0, ...consts);
      return true;
    }
  }
  return false;
}

/** MatMul of rows by a constant matrix plus a 1-D constant bias -> Gemm (transB when the matrix is a transposed weight). */
function gemm(g: GraphBuilder, ix: Index): boolean {
  for (const mm of g.nodes) {
    if (mm.op !== 'MatMul' || ix.shape(mm.inputs[0]!)?.length !== 2 || !ix.isConst(mm.inputs[1]!)) continue;
    const ws = ix.shape(mm.inputs[1]!);
    const add = ix.sole(mm.outputs[0]!);
    if (ws?.length !== 2 || typeof ws[1] !== 'number' || add?.op !== 'Add') continue;
    const pre: GNode[] = [];
    const b = perAxis(g, ix, pre, other(add, mm.outputs[0]!), 2, 1, ws[1]);
    if (!b) continue;
    const t = ix.producer.get(mm.inputs[1]!);
    const transposed = t?.op === 'Transpose' && attrInts(t, 'perm')?.join() === '1,0';
    mm.op = 'Gemm';
    mm.inputs = [mm.inputs[0]!, transposed ? t.inputs[0]! : mm.inputs[1]!, b];
    mm.attrs = transposed ? { transB: I(1) } : {};
    absorb(g, mm, add, pre);
    return true;
  }
  return false;
}

/** ReduceMean of a 4-D value over its last two axes, keeping them -> GlobalAveragePool. */
function globalPool(g: GraphBuilder, ix: Index): boolean {
  for (const n of g.nodes) {
    if (n.op !== 'ReduceMean' || attrInt(n, 'keepdims') === 0 || ix.shape(n.inputs[0]!)?.length !== 4) continue;
    if (attrInts(n, 'axes')?.map((a) => (a < 0 ? a + 4 : a)).sort().join() !== '2,3') continue;
    n.op = 'GlobalAveragePool';
    n.attrs = {};
    return true;
  }
  return false;
}

/**
 * Sums of squares. Over innermost axes: ReduceSum(x * x) -> ReduceSumSquare(x), and its Sqrt -> ReduceL2(x)
 * (one pass over x, no x * x). Over a run of middle axes (GRN's spatial sum of an NHWC map), onnxruntime's
 * ReduceL2 / ReduceSumSquare take its slow general path; there the sum becomes a row of ones times the squares,
 * ones(1, R) @ (x * x)(P, R, Q): a MatMul, as fast as Mul + ReduceSum at batch 8 and faster than both at batch 1
 * (one-op graphs at GRN's three stage shapes, against ReduceL2: 0.65-0.30x the time at batch 1, 0.63-0.42x at batch 8).
 */
function sumOfSquares(g: GraphBuilder, ix: Index): boolean {
  for (const sum of g.nodes) {
    if (sum.op !== 'ReduceSum' || !sum.inputs[1] || !ix.g.initializers.has(sum.inputs[1])) continue;
    const sq = ix.producer.get(sum.inputs[0]!);
    if (sq?.op !== 'Mul' || sq.inputs[0] !== sq.inputs[1]) continue;
    const t = g.initializers.get(sum.inputs[1])!;
    const axes = Array.from(new BigInt64Array(t.raw.slice().buffer), Number);
    const shape = ix.shape(sq.inputs[0]!);
    if (shape === undefined) continue;
    const rank = shape.length;
    const norm = axes.map((a) => (a < 0 ? a + rank : a)).sort((a, b) => a - b);
    if (!norm.every((a, i) => a === norm[0]! + i)) continue;
    const keepdims = attrInt(sum, 'keepdims') ?? 1;
    if (norm[norm.length - 1] !== rank - 1) {
      if (onesTimesSquares(g, sum, sq, shape, norm, keepdims)) return true;
      continue;
    }
    const sqrt = ix.sole(sum.outputs[0]!);
    const attrs = { axes: Is(axes), keepdims: I(keepdims) };
    if (sqrt?.op === 'Sqrt') {
      replace(g, sqrt, [{ op: 'ReduceL2', inputs: [sq.inputs[0]!], outputs: sqrt.outputs, attrs }]);
      g.nodes.splice(g.nodes.indexOf(sum), 1);
    } else replace(g, sum, [{ op: 'ReduceSumSquare', inputs: [sq.inputs[0]!], outputs: sum.outputs, attrs }]);
    return true;
  }
  return false;
}

/**
 * ReduceSum of `sq` over the contiguous middle axes `axes` as ones(1, R) @ sq viewed (P, R, Q). Needs static
 * reduced and trailing dims and at most one dynamic leading dim (the batch); false (unchanged) otherwise.
 */
function onesTimesSquares(g: GraphBuilder, sum: GNode, sq: GNode, shape: (number | string)[], axes: number[], keepdims: number): boolean {
  const [first, last] = [axes[0]!, axes[axes.length - 1]!];
  const lead = shape.slice(0, first);
  const fixed = (ds: (number | string)[]): ds is number[] => ds.every((d) => typeof d === 'number' && d > 0);
  const tail = shape.slice(last + 1);
  const reduced = shape.slice(first, last + 1);
  if (!fixed(reduced) || !fixed(tail) || lead.filter((d) => typeof d !== 'number').length > 1) return false;
  const prod = (ds: number[]) => ds.reduce((a, b) => a * b, 1);
  const r = prod(reduced);
  // A dynamic leading dim is the view's -1; with all leading dims known, their product.
  const leadDims = lead.map((d) => (typeof d === 'number' ? d : -1));
  const p = leadDims.includes(-1) ? -1 : prod(leadDims);
  const pre: GNode[] = [];
  const view = pending(g, pre, 'Reshape', [sq.outputs[0]!, g.ints([p, r, prod(tail)])]);
  const ones = pending(g, pre, 'ConstantOfShape', [g.ints([1, r])], { value: { t: floatTensor([1], [1]) } });
  const summed = pending(g, pre, 'MatMul', [ones, view]);
  const out = [...leadDims, ...(keepdims ? reduced.map(() => 1) : []), ...tail];
  replace(g, sum, [...pre, { op: 'Reshape', inputs: [summed, g.ints(out)], outputs: sum.outputs, attrs: {} }]);
  return true;
}

const PASSES = [canonicalGelu, layerNorm, convBias, layerScaledShortcut, scaleIntoConv, foldBatchNormIntoConv, gemm, globalPool, sumOfSquares];

/** Runs the pattern passes to a fixed point. */
export function fuse(g: GraphBuilder): void {
  mergeDuplicates(g);
  for (let round = 0; round < 100_000; round++) {
    const ix = new Index(g);
    if (!PASSES.some((p) => p(g, ix))) break;
  }
  g.removeDead();
}
