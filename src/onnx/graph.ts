/**
 * An ONNX graph under construction, its clean-up passes (inverse transposes cancelled, reshape chains
 * merged, identities and dead nodes removed) and its serialization with onnx-proto.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** ONNX element types vizoo writes. */
export const ElemType = {
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  BFLOAT16: 16,
} as const;
export type ElemTypeId = (typeof ElemType)[keyof typeof ElemType];

export type Attr =
  | { i: number }
  | { f: number }
  | { ints: number[] }
  | { floats: number[] }
  | { s: string }
  | { t: InitTensor };

export const I = (i: number): Attr => ({ i });
export const F = (f: number): Attr => ({ f });
export const Is = (ints: number[]): Attr => ({ ints });
export const S = (s: string): Attr => ({ s });

export interface InitTensor {
  dtype: ElemTypeId;
  dims: number[];
  /** Little-endian element bytes. */
  raw: Uint8Array;
}

export interface GNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

export interface GValueInfo {
  dtype: ElemTypeId;
  /** Dims: a number, or a symbolic name (dynamic batch). */
  shape: (number | string)[];
}

function rawOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

export function floatTensor(values: ArrayLike<number>, dims: number[]): InitTensor {
  return { dtype: ElemType.FLOAT, dims, raw: rawOf(Float32Array.from(values)) };
}

export function int64Tensor(values: ArrayLike<number>, dims: number[] = [values.length]): InitTensor {
  const big = (v: number) => (v >= 2 ** 63 ? 0x7fffffffffffffffn : v <= -(2 ** 63) ? -0x7fffffffffffffffn : BigInt(Math.trunc(v)));
  return { dtype: ElemType.INT64, dims, raw: rawOf(BigInt64Array.from(Array.from(values, big))) };
}

export function boolTensor(values: ArrayLike<number>, dims: number[]): InitTensor {
  return { dtype: ElemType.BOOL, dims, raw: Uint8Array.from(values, (v) => (v ? 1 : 0)) };
}

/** Ops applied element by element (with numpy broadcasting): a transpose commutes with them. */
const ELEMENTWISE = new Set([
  'Relu', 'Sigmoid', 'Tanh', 'Erf', 'Exp', 'Log', 'Neg', 'Abs', 'Sqrt', 'Reciprocal', 'Floor', 'Ceil', 'Round', 'Sign', 'Softplus',
  'LeakyRelu', 'Elu', 'Selu', 'Not', 'Cast', 'Sin', 'Cos', 'IsNaN', 'Clip', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Max', 'Min',
  'Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Where', 'PRelu',
]);

const REDUCE = new Set(['ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin', 'ReduceProd']);

/** Whether `name` is an initializer or computed from initializers only (answers memoized in `memo`). */
export function dependsOnInitializers(name: string, initializers: Map<string, InitTensor>, producer: Map<string, GNode>, memo: Map<string, boolean>): boolean {
  if (initializers.has(name)) return true;
  let c = memo.get(name);
  if (c === undefined) {
    const p = producer.get(name);
    c = p ? p.inputs.every((i) => !i || dependsOnInitializers(i, initializers, producer, memo)) : false;
    memo.set(name, c);
  }
  return c;
}

export class GraphBuilder {
  readonly nodes: GNode[] = [];
  readonly initializers = new Map<string, InitTensor>();
  readonly info = new Map<string, GValueInfo>();
  inputs: string[] = [];
  outputs: string[] = [];
  /** Initializers kept even when unused (the state dict). */
  readonly keep = new Set<string>();
  private counter = 0;
  private readonly constCache = new Map<string, string>();
  /** Producers of the nodes added with `node`/`op` (while building). */
  private readonly producer = new Map<string, GNode>();
  private readonly constness = new Map<string, boolean>();

  fresh(prefix = 'v'): string {
    return `${prefix}_${this.counter++}`;
  }

  /** Adds a node; returns its output names. `info` describes the outputs when known. */
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, nOut = 1, info?: (GValueInfo | undefined)[]): string[] {
    const outputs = Array.from({ length: nOut }, () => this.fresh(op.toLowerCase()));
    const n = { op, inputs, outputs, attrs };
    this.nodes.push(n);
    for (const o of outputs) this.producer.set(o, n);
    outputs.forEach((o, i) => info?.[i] && this.info.set(o, info[i]!));
    return outputs;
  }

  /** Single-output node. */
  op(op: string, inputs: string[], attrs: Record<string, Attr> = {}, info?: GValueInfo): string {
    return this.node(op, inputs, attrs, 1, [info])[0]!;
  }

  initializer(name: string, t: InitTensor): string {
    this.initializers.set(name, t);
    this.info.set(name, { dtype: t.dtype, shape: [...t.dims] });
    return name;
  }

  /** A constant initializer, shared between uses when small. */
  constant(t: InitTensor): string {
    const small = t.raw.byteLength <= 256;
    const key = small ? `${t.dtype}|${t.dims.join(',')}|${Array.from(t.raw).join(',')}` : '';
    if (small && this.constCache.has(key)) return this.constCache.get(key)!;
    const name = this.initializer(this.fresh('const'), t);
    if (small) this.constCache.set(key, name);
    return name;
  }

  ints(values: number[]): string {
    return this.constant(int64Tensor(values));
  }

  scalarFloat(v: number): string {
    return this.constant(floatTensor([v], []));
  }

  /** Whether a value (added while building) depends on initializers only. */
  isConstant(name: string): boolean {
    return dependsOnInitializers(name, this.initializers, this.producer, this.constness);
  }

  /** Static shape of a value when known (no symbolic dims). */
  staticShape(name: string): number[] | undefined {
    const s = this.info.get(name)?.shape;
    return s && s.every((d) => typeof d === 'number') ? (s as number[]) : undefined;
  }

  // ---- clean-up passes ----

  private producers(): Map<string, GNode> {
    const m = new Map<string, GNode>();
    for (const n of this.nodes) for (const o of n.outputs) m.set(o, n);
    return m;
  }

  private intsOf(name: string): number[] | undefined {
    const t = this.initializers.get(name);
    if (!t || t.dtype !== ElemType.INT64) return undefined;
    const v = new BigInt64Array(t.raw.slice().buffer);
    return Array.from(v, Number);
  }

  /** Replaces every use of `from` by `to` (graph outputs keep their names through an Identity). */
  private replaceUses(from: string, to: string): void {
    for (const n of this.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
  }

  optimize(): void {
    for (let pass = 0; pass < 64; pass++) {
      let changed = this.pushTransposes();
      const prod = this.producers();
      for (const n of this.nodes) {
        if (n.op === 'Transpose') {
          const p = prod.get(n.inputs[0]!);
          if (p?.op === 'Transpose') {
            const p1 = (p.attrs.perm as { ints: number[] }).ints;
            const p2 = (n.attrs.perm as { ints: number[] }).ints;
            const perm = p2.map((i) => p1[i]!);
            n.inputs = [p.inputs[0]!];
            n.attrs = { perm: Is(perm) };
            changed = true;
          }
          const perm = (n.attrs.perm as { ints: number[] }).ints;
          if (perm.every((v, i) => v === i)) {
            n.op = 'Identity';
            n.attrs = {};
            changed = true;
          }
        } else if (n.op === 'Reshape') {
          const p = prod.get(n.inputs[0]!);
          const target = this.intsOf(n.inputs[1]!);
          if (p?.op === 'Reshape' && target && !target.includes(0)) {
            n.inputs = [p.inputs[0]!, n.inputs[1]!];
            changed = true;
          }
          const src = this.staticShape(n.inputs[0]!);
          if (target && src && !target.includes(-1) && !target.includes(0) && target.length === src.length && target.every((d, i) => d === src[i])) {
            n.op = 'Identity';
            n.inputs = [n.inputs[0]!];
            changed = true;
          }
        }
      }
      // Identities: route consumers around them (an Identity that produces a graph output stays).
      const outs = new Set(this.outputs);
      for (const n of this.nodes) {
        if (n.op === 'Identity' && !outs.has(n.outputs[0]!)) {
          this.replaceUses(n.outputs[0]!, n.inputs[0]!);
        }
      }
      changed = this.removeDead() || changed;
      if (!changed) break;
    }
  }

  /**
   * Moves a Transpose below an elementwise op that is its only consumer: E(T(x), c) = T(E(x, T^-1(c))) for
   * operands c of known static shape (biases, scales: constant after folding) or other transposed inputs
   * with the same permutation. Repeated, the transposes around NHWC-to-NCHW conv wrappers meet their inverses
   * and cancel, so chains of convs, norms and activations run in NCHW without layout shuffles.
   */
  private pushTransposes(): boolean {
    for (const n of this.nodes) if (ELEMENTWISE.has(n.op) && n.outputs.length === 1) this.inferElementwise(n);
    const consumers = new Map<string, GNode[]>();
    for (const n of this.nodes) for (const i of n.inputs) if (i) consumers.set(i, [...(consumers.get(i) ?? []), n]);
    const graphOut = new Set(this.outputs);
    const prod = this.producers();
    // Transposes whose every consumer is an elementwise op (and not a graph output) can move below them.
    const movable = (name: string) => {
      const p = prod.get(name);
      if (p?.op !== 'Transpose' || graphOut.has(name)) return null;
      const cs = consumers.get(name) ?? [];
      return cs.length > 0 && cs.every((c) => (ELEMENTWISE.has(c.op) || (REDUCE.has(c.op) && (c.attrs.keepdims as { i: number } | undefined)?.i !== 0)) && c.outputs.length === 1) ? p : null;
    };
    for (let idx = 0; idx < this.nodes.length; idx++) {
      const e = this.nodes[idx]!;
      if (REDUCE.has(e.op) && this.pushThroughReduce(e, idx, movable)) return true;
      if (!ELEMENTWISE.has(e.op) || e.outputs.length !== 1) continue;
      const transposed = e.inputs.map((i) => (i ? movable(i) : null));
      const perms = transposed.filter((t): t is GNode => t !== null).map((t) => (t.attrs.perm as { ints: number[] }).ints);
      if (!perms.length) continue;
      const perm = perms[0]!;
      if (!perms.every((q) => q.join() === perm.join())) continue;
      this.inferElementwise(e);
      const outShape = this.info.get(e.outputs[0]!)?.shape;
      const rank = perm.length;
      if (!outShape || outShape.length !== rank) continue;
      const inv = new Array<number>(rank);
      perm.forEach((p, i) => (inv[p] = i));
      // Every other operand must have a known shape of rank <= the output's.
      const others = e.inputs.map((i, k) => (transposed[k] || !i ? null : this.staticShape(i)));
      if (e.inputs.some((i, k) => !transposed[k] && i && (!others[k] || others[k]!.length > rank))) continue;
      const newInputs = e.inputs.map((i, k) => {
        if (transposed[k]) return transposed[k]!.inputs[0]!;
        const s = others[k];
        if (!i || !s || s.every((d) => d === 1)) return i;
        const full = [...new Array<number>(rank - s.length).fill(1), ...s];
        const dtype = this.info.get(i)?.dtype ?? ElemType.FLOAT;
        // New nodes go right before `e` (the node list stays in topological order).
        const pre: GNode[] = [];
        let r = i;
        if (s.length !== rank) {
          r = this.fresh('reshape');
          this.info.set(r, { dtype, shape: full });
          pre.push({ op: 'Reshape', inputs: [i, this.ints(full)], outputs: [r], attrs: {} });
        }
        const t = this.fresh('transpose');
        this.info.set(t, { dtype, shape: inv.map((a) => full[a]!) });
        pre.push({ op: 'Transpose', inputs: [r], outputs: [t], attrs: { perm: Is(inv) } });
        this.nodes.splice(idx, 0, ...pre);
        idx += pre.length;
        return t;
      });
      const out = e.outputs[0]!;
      const inner = this.fresh(e.op.toLowerCase());
      const info = this.info.get(out)!;
      this.info.set(inner, { dtype: info.dtype, shape: inv.map((a) => outShape[a]!) });
      e.inputs = newInputs;
      e.outputs = [inner];
      this.nodes.splice(idx + 1, 0, { op: 'Transpose', inputs: [inner], outputs: [out], attrs: { perm: Is(perm) } });
      return true;
    }
    return false;
  }

  /** Reduce(T(x), axes, keepdims=1) = T(Reduce(x, perm[axes], keepdims=1)). */
  private pushThroughReduce(e: GNode, idx: number, movable: (name: string) => GNode | null): boolean {
    if ((e.attrs.keepdims as { i: number } | undefined)?.i === 0) return false;
    const t = e.inputs[0] ? movable(e.inputs[0]) : null;
    if (!t) return false;
    // ReduceSum (opset 13) takes its axes as an input, the others as an attribute.
    const axes = e.op === 'ReduceSum' ? (e.inputs[1] ? this.intsOf(e.inputs[1]) : undefined) : (e.attrs.axes as { ints: number[] } | undefined)?.ints;
    if (!axes) return false;
    const perm = (t.attrs.perm as { ints: number[] }).ints;
    const rank = perm.length;
    const outShape = this.info.get(e.outputs[0]!)?.shape;
    if (!outShape || outShape.length !== rank) return false;
    const inv = new Array<number>(rank);
    perm.forEach((p, i) => (inv[p] = i));
    const moved = axes.map((a) => perm[a < 0 ? a + rank : a]!);
    e.inputs = [t.inputs[0]!, ...(e.op === 'ReduceSum' ? [this.ints(moved)] : [])];
    if (e.op !== 'ReduceSum') e.attrs = { ...e.attrs, axes: Is(moved) };
    const out = e.outputs[0]!;
    const inner = this.fresh(e.op.toLowerCase());
    this.info.set(inner, { dtype: this.info.get(out)!.dtype, shape: inv.map((a) => outShape[a]!) });
    e.outputs = [inner];
    this.nodes.splice(idx + 1, 0, { op: 'Transpose', inputs: [inner], outputs: [out], attrs: { perm: Is(perm) } });
    return true;
  }

  /** Value info of an elementwise node's output from its inputs' (numpy broadcasting), when missing. */
  private inferElementwise(e: GNode): void {
    const out = e.outputs[0]!;
    if (this.info.has(out)) return;
    const ins = e.inputs.filter(Boolean).map((i) => this.info.get(i));
    if (ins.some((x) => !x)) return;
    const rank = Math.max(...ins.map((x) => x!.shape.length));
    const shape: (number | string)[] = [];
    for (let d = 0; d < rank; d++) {
      const dims = ins.map((x) => x!.shape[x!.shape.length - rank + d]).filter((v): v is number | string => v !== undefined && v !== 1);
      shape.push(dims.find((v) => typeof v === 'string') ?? dims[0] ?? 1);
    }
    const boolOut = ['Equal', 'Greater', 'Less', 'GreaterOrEqual', 'LessOrEqual', 'And', 'Or', 'Not', 'IsNaN'].includes(e.op);
    const src = e.op === 'Where' ? ins[1]! : ins[0]!;
    const dtype = e.op === 'Cast' ? ((e.attrs.to as { i: number }).i as ElemTypeId) : boolOut ? ElemType.BOOL : src.dtype;
    this.info.set(out, { dtype, shape });
  }

  /** Removes nodes whose outputs nobody uses and initializers nobody reads (except `keep`). */
  removeDead(): boolean {
    const used = new Set<string>(this.outputs);
    const live: GNode[] = [];
    for (let i = this.nodes.length - 1; i >= 0; i--) {
      const n = this.nodes[i]!;
      if (n.outputs.some((o) => used.has(o))) {
        live.push(n);
        for (const x of n.inputs) if (x) used.add(x);
      }
    }
    live.reverse();
    const removed = live.length !== this.nodes.length;
    this.nodes.length = 0;
    this.nodes.push(...live);
    for (const k of [...this.initializers.keys()]) if (!used.has(k) && !this.keep.has(k)) this.initializers.delete(k);
    return removed;
  }

  // ---- serialization ----

  private valueInfo(name: string): onnxProto.onnx.IValueInfoProto {
    const vi = this.info.get(name);
    if (!vi) throw new Error(`ONNX export: no type for graph value '${name}'`);
    return {
      name,
      type: {
        tensorType: {
          elemType: vi.dtype,
          shape: { dim: vi.shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    };
  }

  toModel(opts: { opset: number; producer?: string; docString?: string; metadata?: Record<string, string> }): Uint8Array {
    const attr = (name: string, a: Attr): onnxProto.onnx.IAttributeProto => {
      const T = onnx.AttributeProto.AttributeType;
      if ('i' in a) return { name, type: T.INT, i: a.i };
      if ('f' in a) return { name, type: T.FLOAT, f: a.f };
      if ('ints' in a) return { name, type: T.INTS, ints: a.ints };
      if ('floats' in a) return { name, type: T.FLOATS, floats: a.floats };
      if ('s' in a) return { name, type: T.STRING, s: new TextEncoder().encode(a.s) };
      return { name, type: T.TENSOR, t: { dims: a.t.dims, dataType: a.t.dtype, rawData: a.t.raw } };
    };
    const graph: onnxProto.onnx.IGraphProto = {
      name: 'vizoo',
      node: this.nodes.map((n, i) => ({
        name: `${n.op}_${i}`,
        opType: n.op,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attrs).map(([k, v]) => attr(k, v)),
      })),
      initializer: [...this.initializers].map(([name, t]) => ({ name, dims: t.dims, dataType: t.dtype, rawData: t.raw })),
      input: this.inputs.map((n) => this.valueInfo(n)),
      output: this.outputs.map((n) => this.valueInfo(n)),
    };
    const model = onnx.ModelProto.create({
      irVersion: 8,
      opsetImport: [{ domain: '', version: opts.opset }],
      producerName: opts.producer ?? 'vizoo',
      docString: opts.docString,
      graph,
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
    });
    return onnx.ModelProto.encode(model).finish();
  }
}

export function decodeModel(bytes: Uint8Array): onnxProto.onnx.ModelProto {
  return onnx.ModelProto.decode(bytes);
}

export { onnx };
