/**
 * Tracing a forward pass at the level of tfjs kernels. Export runs the model on its own backend,
 * `vizoo-onnx-trace-<base>`: the wasm (or cpu) backend instance under another name, registered with only the
 * kernels the exporter can map to ONNX, each the base backend's implementation (so values, shapes and
 * host-side logic are real, at wasm speed, and tensors never move between backends). Ops that
 * prefer a fused custom kernel where one is registered (neighborhood attention, ...) find none there and take
 * their composite path. Every kernel call is recorded through the engine's `runKernel`: kernel name, attrs,
 * input and output tensors. Inputs are classified as the graph input, parameters (by the dataId of their
 * variable), or constants (host data created during the forward; read on the spot). A kernel whose inputs
 * are all constants is folded: its output becomes a constant too.
 */
import { tf, type Tensor } from '../tf.js';
import type { Module, Parameter } from '../nn/module.js';
import type { HostTensor } from '../hub/host_tensor.js';

/** The trace backend over `base` (the instance of that backend, shared: tensors never move). */
export function traceBackendName(base: string): string {
  return `vizoo-onnx-trace-${base}`;
}

export type ValueKind = 'input' | 'param' | 'const' | 'node';

export interface TValue {
  /** Index in Trace.values. */
  index: number;
  kind: ValueKind;
  shape: number[];
  dtype: string;
  /** Parameters: the state dict key (in PyTorch layout); inputs: the input name. */
  name?: string;
  /** Constants: the values. */
  data?: Float32Array | Int32Array | Uint8Array;
  /** Nodes: the producing node and output slot. */
  node?: number;
  slot?: number;
}

export interface TNode {
  index: number;
  kernel: string;
  /** Named inputs in the kernel's order (array inputs such as Concat's are named '0', '1', ...). */
  inputs: [string, TValue | null][];
  attrs: Record<string, unknown>;
  outputs: TValue[];
}

export interface Trace {
  values: TValue[];
  nodes: TNode[];
  inputs: TValue[];
  outputs: TValue[];
  /** The first `prelude` nodes convert parameters from PyTorch to tfjs layouts; the forward follows. */
  prelude: number;
  /** Parameters in PyTorch layout (state dict key -> source value), and the tfjs-layout value the forward uses. */
  params: Map<string, { torch: TValue; tf: TValue; param: Parameter; persistent: boolean; host: HostTensor }>;
}

export class UnsupportedKernelError extends Error {
  constructor(readonly kernel: string, detail = '') {
    super(
      `ONNX export: no ONNX mapping for the tfjs kernel '${kernel}'${detail ? ` (${detail})` : ''}. ` +
        'Ops with a fused custom kernel must fall back to their composite form when the backend lacks the kernel; ' +
        'a new primitive needs a mapping in src/onnx/ops.ts.',
    );
    this.name = 'UnsupportedKernelError';
  }
}

const registered = new Map<string, Set<string>>();

/** The kernel names tfjs itself defines (exported as constants: `tf.Conv2D === 'Conv2D'`, ...). */
function stockKernelNames(base: string): string[] {
  return [...new Set(Object.values(tf as unknown as Record<string, unknown>).filter((v): v is string => typeof v === 'string' && tf.getKernel(v, base) !== undefined))];
}

/**
 * Registers the trace backend over `base` ('wasm' or 'cpu'): the very instance of that backend under another
 * name, with tfjs's own kernels only (each the base backend's implementation). Kernels that custom ops
 * register (fused attention kernels, ...) are absent, so those ops take their composite paths. Kernels
 * outside `mapped` may run only on constants (they are folded); anything else is an export error.
 */
export async function ensureTraceBackend(base: string, mapped: Iterable<string>): Promise<string> {
  const name = traceBackendName(base);
  if (!tf.findBackendFactory(name)) {
    const instance = tf.findBackend(base) ?? (await tf.setBackend(base), tf.findBackend(base));
    if (!instance) throw new Error(`ONNX export: backend '${base}' is not available for tracing`);
    tf.registerBackend(name, () => instance, -1);
    registered.set(name, new Set());
  }
  const have = registered.get(name)!;
  for (const k of new Set([...mapped, ...stockKernelNames(base)])) {
    if (have.has(k)) continue;
    const impl = tf.getKernel(k, base);
    if (!impl) continue;
    tf.registerKernel({ ...impl, backendName: name });
    have.add(k);
  }
  mappedKernels = new Set(mapped);
  return name;
}

let mappedKernels = new Set<string>();

type Engine = {
  runKernel: (name: string, inputs: Record<string, Tensor>, attrs?: Record<string, unknown>) => Tensor | Tensor[];
};

function readConst(t: Tensor): Float32Array | Int32Array | Uint8Array {
  const d = t.dataSync();
  if (t.dtype === 'float32') return new Float32Array(d as Float32Array);
  if (t.dtype === 'int32') return new Int32Array(d as Int32Array);
  if (t.dtype === 'bool') return new Uint8Array(d as Uint8Array);
  throw new Error(`ONNX export: constant of dtype ${t.dtype} is not supported`);
}

/**
 * Records kernel calls. Tensors are known by id: declared sources (the input, parameters in PyTorch layout),
 * outputs of recorded kernels, parameter variables (by dataId), and otherwise constants, read when first seen
 * (tensors made from host data during the forward; anything cached outside it is frozen into the graph).
 */
export class Recorder {
  readonly values: TValue[] = [];
  readonly nodes: TNode[] = [];
  private readonly byId = new Map<number, TValue>();
  private readonly paramByDataId = new Map<object, { key: string; shape: number[]; value?: TValue }>();
  private depth = 0;

  private add(v: Omit<TValue, 'index'>): TValue {
    const value = { ...v, index: this.values.length } as TValue;
    this.values.push(value);
    return value;
  }

  /** Declares a tensor as a named source (graph input or a parameter in PyTorch layout). */
  source(t: Tensor, kind: 'input' | 'param', name: string): TValue {
    const v = this.add({ kind, shape: [...t.shape], dtype: t.dtype, name });
    this.byId.set(t.id, v);
    return v;
  }

  /** Declares that tensors with the variable's dataId are the parameter `key` (tfjs layout value `v`). */
  bindParam(variable: Tensor, key: string, value: TValue): void {
    this.paramByDataId.set(variable.dataId as object, { key, shape: [...variable.shape], value });
  }

  valueOf(t: Tensor): TValue {
    const known = this.byId.get(t.id);
    if (known) return known;
    const p = this.paramByDataId.get(t.dataId as object);
    if (p && p.value && p.shape.length === t.shape.length && p.shape.every((d, i) => d === t.shape[i])) {
      this.byId.set(t.id, p.value);
      return p.value;
    }
    const v = this.add({ kind: 'const', shape: [...t.shape], dtype: t.dtype, data: readConst(t) });
    this.byId.set(t.id, v);
    return v;
  }

  /** Runs `fn` with kernel recording on. */
  record<T>(fn: () => T): T {
    const engine = tf.engine() as unknown as Engine;
    const original = engine.runKernel;
    const self = this;
    engine.runKernel = function (this: Engine, name, inputs, attrs) {
      if (self.depth > 0) return original.call(this, name, inputs, attrs);
      const ins: [string, TValue | null][] = Object.keys(inputs).map((k) => [k, inputs[k] ? self.valueOf(inputs[k]!) : null]);
      const folded = ins.every(([, v]) => !v || v.kind === 'const');
      if (!folded && !mappedKernels.has(name)) throw new UnsupportedKernelError(name);
      self.depth++;
      let out: Tensor | Tensor[];
      try {
        out = original.call(this, name, inputs, attrs);
      } catch (e) {
        const msg = (e as Error).message ?? '';
        if (msg.includes(`Kernel '${name}' not registered for backend 'vizoo-onnx-trace`)) throw new UnsupportedKernelError(name);
        throw e;
      } finally {
        self.depth--;
      }
      const outs = Array.isArray(out) ? out : [out];
      const node: TNode = { index: self.nodes.length, kernel: name, inputs: ins, attrs: { ...(attrs ?? {}) }, outputs: [] };
      outs.forEach((t, slot) => {
        const v = folded
          ? self.add({ kind: 'const', shape: [...t.shape], dtype: t.dtype, data: readConst(t) })
          : self.add({ kind: 'node', shape: [...t.shape], dtype: t.dtype, node: node.index, slot });
        self.byId.set(t.id, v);
        node.outputs.push(v);
      });
      if (!folded) self.nodes.push(node);
      return out;
    };
    try {
      return fn();
    } finally {
      engine.runKernel = original;
    }
  }
}

export interface TraceOptions {
  /** NHWC input shape. */
  inputShape: number[];
  /** Input values (default: a fixed pseudo-random pattern). */
  input?: Float32Array;
  /** A trace of the same model whose parameter conversions (and host copies) are reused. */
  reuse?: Trace;
}

/** Deterministic input data in [-1, 1) (the trace needs real numbers; the values do not matter). */
export function patternInput(n: number, seed = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 32) * 2 - 1;
  }
  return out;
}

/**
 * Traces `forward` of `model` (already switched to the trace backend) on an input of `inputShape`.
 * Every parameter and buffer becomes a source in PyTorch layout; its layout conversion is traced too.
 */
export async function traceModel(model: Module, forward: (x: Tensor) => Tensor | Tensor[], opts: TraceOptions): Promise<Trace> {
  const rec = new Recorder();
  const params: Trace['params'] = new Map();
  if (opts.reuse) {
    // Parameters enter directly in tfjs layout: the conversions are the first trace's.
    for (const [key, e] of opts.reuse.params) {
      const v = rec.source(e.param.value, 'param', key);
      rec.bindParam(e.param.value, key, v);
      params.set(key, { ...e, torch: v, tf: v });
    }
  } else {
    const persistent = new Set(model.stateEntries().map(([k]) => k));
    const all = [...model.namedParameters(), ...model.namedBuffers()];
    const seen = new Set<Parameter>();
    for (const [key, p] of all) {
      if (seen.has(p)) continue;
      seen.add(p);
      const host = await p.toHost();
      const data = host.dtype === 'I64' ? Int32Array.from(host.data as BigInt64Array, (v) => Number(v)) : (host.data as Float32Array);
      const torchT = tf.tensor(data, host.shape, host.dtype === 'I64' ? 'int32' : 'float32');
      const src = rec.source(torchT, 'param', key);
      const tfT = rec.record(() => tf.tidy(() => p.layout.toTf(torchT)));
      const tfV = rec.valueOf(tfT);
      rec.bindParam(p.value, key, tfV);
      params.set(key, { torch: src, tf: tfV, param: p, persistent: persistent.has(key), host });
      tf.dispose([torchT, tfT]);
    }
  }
  const prelude = rec.nodes.length;
  const n = opts.inputShape.reduce((a, b) => a * b, 1);
  const x = tf.tensor(opts.input ?? patternInput(n), opts.inputShape, 'float32');
  const xin = rec.source(x, 'input', 'input');
  const y = rec.record(() => forward(x));
  const ys = Array.isArray(y) ? y : [y];
  const outputs = ys.map((t) => rec.valueOf(t));
  tf.dispose([x, ...ys]);
  return { values: rec.values, nodes: rec.nodes, inputs: [xin], outputs, params, prelude };
}
