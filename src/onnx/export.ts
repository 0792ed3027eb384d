/**
 * ONNX export of any vizoo model, driven by the tfjs kernels its forward runs (./trace.ts) and the kernel
 * mappings (./ops.ts): no per-model code. The graph takes an NCHW float input called `input` (PyTorch's
 * convention) and returns `output` (NCHW for maps). Parameters are initializers named by their official
 * state-dict keys in PyTorch layouts (so ONNX files load back by name, and equal torch.onnx's naming without
 * constant folding); the layout conversion to tfjs's is part of the graph and folds away in the runtime.
 * A dynamic batch is found by tracing at two batch sizes: every shape attribute that differs between the
 * traces becomes a function of the input's batch size.
 */
import { tf, type Tensor } from '../tf.js';
import type { Module } from '../nn/module.js';
import type { PretrainedConfig } from '../models/registry.js';
import { atomicWriteFile } from '../util/fs.js';
import { type HostTensor, bytesOf } from '../hub/host_tensor.js';
import { ElemType, type GValueInfo, GraphBuilder, I, type InitTensor, boolTensor, floatTensor, int64Tensor } from './graph.js';
import { fuse } from './fuse.js';
import { type Held, Layouts, NCHW_TO_NHWC, type Shapes, plainHeld } from './layout.js';
import { KERNEL_MAPPINGS, MAPPED_KERNELS, type MapContext, onnxDType } from './ops.js';
import { type TNode, type TValue, type Trace, UnsupportedKernelError, ensureTraceBackend, traceModel } from './trace.js';

export interface ExportOptions {
  /** ONNX opset (default 17; 13..18 work with the ops used). */
  opset?: number;
  /** Symbolic batch dimension. */
  dynamicBatch?: boolean;
  /** Batch size of a fixed-batch export (default 1). */
  batchSize?: number;
  /** Input (height, width) (default: the pretrained config's input size). */
  inputSize?: [number, number];
  /** Input channels (default: the pretrained config's). */
  inChans?: number;
  /** Extra metadata_props. */
  metadata?: Record<string, string>;
  /** Rewrite into the standard forms runtimes fuse (LayerNormalization, Gelu pattern, Gemm, ...; default true). */
  fuse?: boolean;
  /** What the graph outputs: the model's forward (default), or the continuous hash of a hashing model (EET's forwardHash). */
  output?: ExportOutput;
}

export type ExportOutput = 'forward' | 'hash';

type HashExportable = { forwardHash?(x: Tensor): { hash: Tensor } };

/** The traced function for `output`. */
function exportedForward(model: Exportable, output: ExportOutput = 'forward'): (x: Tensor) => Tensor | Tensor[] {
  if (output === 'forward') return (x) => model.forward(x);
  const hashing = model as Exportable & HashExportable;
  if (typeof hashing.forwardHash !== 'function') throw new Error(`ONNX export: model '${model.variant || model.constructor.name}' has no hash head`);
  return (x) => tf.tidy(() => hashing.forwardHash!(x).hash);
}

export interface ExportResult {
  bytes: Uint8Array;
  inputName: string;
  outputNames: string[];
  /** NCHW input shape (batch -1 when dynamic). */
  inputShape: number[];
  /** Output shapes (batch -1 when dynamic). */
  outputShapes: number[][];
  /** Kernels the forward ran, with counts. */
  kernels: Record<string, number>;
}

type Exportable = Module & { forward(x: Tensor): Tensor | Tensor[]; pretrainedCfg?: PretrainedConfig; variant?: string };

function initOf(h: HostTensor): InitTensor {
  const dtype = { F32: ElemType.FLOAT, F64: ElemType.DOUBLE, F16: ElemType.FLOAT16, BF16: ElemType.BFLOAT16, I64: ElemType.INT64, I32: ElemType.INT32, I16: ElemType.INT16, I8: ElemType.INT8, U8: ElemType.UINT8, BOOL: ElemType.BOOL }[h.dtype];
  return { dtype, dims: [...h.shape], raw: bytesOf(h) };
}

function constInit(v: TValue): InitTensor {
  const d = v.data!;
  if (v.dtype === 'float32') return floatTensor(d, v.shape);
  if (v.dtype === 'int32') return int64Tensor(d, v.shape);
  return boolTensor(d, v.shape);
}

const sameArr = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.from(a).every((x, i) => x === b[i]);

/**
 * Pairs every value of trace A with its counterpart in trace B (and each forward kernel call with B's);
 * throws when the two forwards differ in structure.
 */
function correspond(a: Trace, b: Trace): { values: Map<number, TValue>; nodes: Map<number, TNode> } {
  const alt = new Map<number, TValue>();
  const nodes = new Map<number, TNode>();
  const fa = a.nodes.slice(a.prelude);
  const fb = b.nodes.slice(b.prelude);
  if (fa.length !== fb.length) throw new Error(`ONNX export: the forward runs ${fa.length} kernels at one batch size and ${fb.length} at another; export with a fixed batch`);
  alt.set(a.inputs[0]!.index, b.inputs[0]!);
  for (const [k, p] of a.params) alt.set(p.tf.index, b.params.get(k)!.tf);
  fa.forEach((n, i) => {
    const m = fb[i]!;
    nodes.set(n.index, m);
    if (n.kernel !== m.kernel || n.inputs.length !== m.inputs.length || n.outputs.length !== m.outputs.length) {
      throw new Error(`ONNX export: kernel ${i} is ${n.kernel} at one batch size and ${m.kernel} at another; export with a fixed batch`);
    }
    n.inputs.forEach(([, v], j) => {
      const w = m.inputs[j]![1];
      if (!v || !w) return;
      const mate = alt.get(v.index);
      const same = mate ? mate === w : v.kind === 'const' && w.kind === 'const';
      if (!same) throw new Error(`ONNX export: input ${j} of kernel ${i} (${n.kernel}) changes with the batch size; export with a fixed batch`);
      if (!mate) alt.set(v.index, w);
    });
    n.outputs.forEach((v, j) => alt.set(v.index, m.outputs[j]!));
  });
  a.outputs.forEach((v, i) => {
    if (alt.has(v.index) ? alt.get(v.index) !== b.outputs[i] : false) throw new Error('ONNX export: the outputs change with the batch size');
    alt.set(v.index, b.outputs[i]!);
  });
  return { values: alt, nodes };
}

function buildGraph(a: Trace, b: Trace | null, batches: [number, number], nchwIn: number[]): { g: GraphBuilder; outputs: string[]; outShapes: number[][] } {
  const g = new GraphBuilder();
  const pairs = b ? correspond(a, b) : null;
  const alt = pairs?.values ?? new Map<number, TValue>();
  const [bA, bB] = batches;
  /** How each traced value is held in the graph (see layout.ts). */
  const held = new Map<number, Held>();
  const traces = b ? 2 : 1;
  /** A traced value's shape per trace. */
  const shapesOf = (v: TValue): Shapes => [v.shape, ...(b ? [alt.get(v.index)?.shape ?? v.shape] : [])];

  // Input: NCHW, held as the NHWC value the forward reads.
  g.inputs = ['input'];
  g.info.set('input', { dtype: ElemType.FLOAT, shape: nchwIn.map((d, i) => (i === 0 && b ? 'batch' : d)) });
  const xin = a.inputs[0]!;
  const xShapes = shapesOf(xin);
  held.set(xin.index, xin.shape.length === 4 ? { name: 'input', o: xShapes.map((s) => [s[0]!, s[3]!, s[1]!, s[2]!]), perm: NCHW_TO_NHWC, t: xShapes, dtype: 'float32' } : plainHeld('input', xShapes, 'float32'));

  let batchVec: string | null = null;
  const batch = () => (batchVec ??= g.op('Slice', [g.op('Shape', ['input']), g.ints([0]), g.ints([1])]));
  /** (slope, intercept) of a value that is `va` at batch bA and `vb` at bB. */
  const linear = (va: number, vb: number, what: string): [number, number] => {
    const slope = (vb - va) / (bB - bA);
    const c = va - slope * bA;
    if (!Number.isInteger(slope) || !Number.isInteger(c)) throw new Error(`ONNX export: ${what} is not a whole multiple of the batch size (${va} at batch ${bA}, ${vb} at ${bB}); export with a fixed batch`);
    return [slope, c];
  };
  const dimName = (va: number, vb: number): string => {
    const [s, c] = linear(va, vb, 'a dimension');
    return `${s === 1 ? '' : `${s}*`}batch${c ? (c > 0 ? `+${c}` : `${c}`) : ''}`;
  };
  const infoFor = (dtype: string, shapes: Shapes): GValueInfo => {
    const [sa, sb] = shapes;
    return { dtype: onnxDType(dtype), shape: sa!.map((d, i) => (sb && sb[i] !== d ? dimName(d, sb[i]!) : d)) };
  };
  const infoOf = (v: TValue): GValueInfo => infoFor(v.dtype, shapesOf(v));
  const shapeInts = (what: string, values: number[], altValues?: number[]): string => {
    if (!altValues || sameArr(values, altValues)) return g.ints(values);
    const pieces: string[] = [];
    let run: number[] = [];
    values.forEach((v, i) => {
      const w = altValues[i]!;
      if (v === w) return run.push(v);
      if (run.length) pieces.push(g.ints(run)), (run = []);
      const [s, c] = linear(v, w, `'${what}'`);
      let p = batch();
      if (s !== 1) p = g.op('Mul', [p, g.ints([s])]);
      if (c !== 0) p = g.op('Add', [p, g.ints([c])]);
      pieces.push(p);
    });
    if (run.length) pieces.push(g.ints(run));
    return pieces.length === 1 ? pieces[0]! : g.op('Concat', pieces, { axis: I(0) });
  };
  /** A Reshape target for per-trace shapes: one batch-dependent dim is -1, several are computed. */
  const shapeTarget = (shapes: Shapes): string => {
    const [sa, sb] = shapes;
    if (!sb || sameArr(sa!, sb)) return g.ints(sa!);
    const diff = sa!.flatMap((d, i) => (d !== sb[i] ? [i] : []));
    if (diff.length === 1) return g.ints(sa!.map((d, i) => (i === diff[0] ? -1 : d)));
    return shapeInts('reshape', sa!, sb);
  };
  const layouts = new Layouts({ g, shapeTarget, info: infoFor });

  // Parameters: initializers under their official keys.
  for (const [key, p] of a.params) {
    held.set(p.torch.index, plainHeld(g.initializer(key, initOf(p.host)), shapesOf(p.torch), p.torch.dtype));
    if (p.persistent) g.keep.add(key);
  }

  /**
   * A constant created during the forward whose size follows the batch along one axis (zeros, masks,
   * the row offsets of flattened gathers): seen per batch item it must be affine in the item's index,
   * C[b*n + j] = block[j] + b * step[j], which covers blocks repeated per item (step 0) and ranges. It
   * becomes Range(batch) * step + block, reshaped.
   */
  const batchConstant = (v: TValue, w: TValue): string => {
    const dims = v.shape.flatMap((d, i) => (d !== w.shape[i] ? [i] : []));
    const fail = (why: string): never => {
      throw new Error(`ONNX export: a constant of shape [${v.shape}] created during the forward depends on the batch size (${why}); export with a fixed batch`);
    };
    if (dims.length !== 1) fail('along several axes');
    const d = dims[0]!;
    const per = v.shape[d]! / bA;
    if (!Number.isInteger(per) || per !== w.shape[d]! / bB) fail('its length is not a multiple of the batch');
    const inner = v.shape.slice(d + 1).reduce((x, y) => x * y, 1);
    const outer = v.shape.slice(0, d).reduce((x, y) => x * y, 1);
    const at = (t: TValue, o: number, b: number, j: number, r: number) => t.data![((o * (t.shape[d]! / per) + b) * per + j) * inner + r]!;
    const block = new Float64Array(outer * per * inner);
    const step = new Float64Array(outer * per * inner);
    for (let o = 0; o < outer; o++) {
      for (let j = 0; j < per; j++) {
        for (let r = 0; r < inner; r++) {
          const k = (o * per + j) * inner + r;
          block[k] = at(v, o, 0, j, r);
          step[k] = at(v, o, 1, j, r) - block[k]!;
        }
      }
    }
    const close = (a: number, b: number) => a === b || Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b));
    for (const [t, n] of [[v, bA], [w, bB]] as const) {
      for (let o = 0; o < outer; o++) for (let b = 0; b < n; b++) for (let j = 0; j < per; j++) for (let r = 0; r < inner; r++) {
        const k = (o * per + j) * inner + r;
        if (!close(at(t, o, b, j, r), block[k]! + b * step[k]!)) fail('not affine in the batch index');
      }
    }
    const Arr = v.data!.constructor as Float32ArrayConstructor;
    const view = [outer, 1, per, inner];
    const blockT = g.constant(constInit({ ...v, shape: view, data: new Arr(block) }));
    if (step.every((x) => x === 0)) {
      const tiled = g.op('Tile', [blockT, shapeInts('batch constant', [1, bA, 1, 1], [1, bB, 1, 1])]);
      return g.op('Reshape', [tiled, g.ints(v.shape.map((x, i) => (i === d ? -1 : x)))], {}, infoOf(v));
    }
    const n = g.op('Reshape', [batch(), g.constant(int64Tensor([], [0]))]);
    let idx = g.op('Range', [g.constant(int64Tensor([0], [])), n, g.constant(int64Tensor([1], []))]);
    idx = g.op('Reshape', [idx, g.ints([1, -1, 1, 1])]);
    if (v.dtype === 'float32') idx = g.op('Cast', [idx], { to: I(ElemType.FLOAT) });
    const stepT = g.constant(constInit({ ...v, shape: view, data: new Arr(step) }));
    const full = g.op('Add', [g.op('Mul', [idx, stepT]), blockT]);
    return g.op('Reshape', [full, g.ints(v.shape.map((x, i) => (i === d ? -1 : x)))], {}, infoOf(v));
  };

  const heldOf = (v: TValue): Held => {
    const known = held.get(v.index);
    if (known) return known;
    if (v.kind !== 'const') throw new Error(`ONNX export: internal error: value ${v.index} (${v.kind}) used before it is produced`);
    const w = alt.get(v.index);
    let h: Held;
    if (w && !sameArr(v.shape, w.shape)) {
      h = plainHeld(batchConstant(v, w), shapesOf(v), v.dtype);
    } else {
      if (w && !sameArr(v.data!, w.data!)) throw new Error(`ONNX export: a constant of shape [${v.shape}] created during the forward has values that depend on the batch size; export with a fixed batch`);
      const name = v.data!.length * 4 <= 256 ? g.constant(constInit(v)) : g.initializer(g.fresh('const'), constInit(v));
      h = plainHeld(name, shapesOf(v), v.dtype, v.data);
    }
    held.set(v.index, h);
    return h;
  };

  const consumers = new Map<number, TNode[]>();
  for (const node of a.nodes) {
    for (const [, v] of node.inputs) {
      if (!v) continue;
      const list = consumers.get(v.index);
      if (list) list.push(node);
      else consumers.set(v.index, [node]);
    }
  }
  /** The kernels that read `v`, looking through reshapes. */
  const readers = (v: TValue): TNode[] => (consumers.get(v.index) ?? []).flatMap((n) => (n.kernel === 'Reshape' ? readers(n.outputs[0]!) : [n]));

  for (const node of a.nodes) {
    const mapping = KERNEL_MAPPINGS[node.kernel];
    if (!mapping) throw new UnsupportedKernelError(node.kernel);
    const altNode: TNode | undefined = pairs?.nodes.get(node.index);
    const handled = new Set<string>();
    const outHeld = new Map<number, Held>();
    const find = (n: string | number) => (typeof n === 'number' ? node.inputs[n] : node.inputs.find(([k]) => k === n));
    const ctx: MapContext = {
      g,
      node,
      alt: altNode,
      input: (n) => layouts.plain(ctx.held(n)),
      held: (n) => heldOf(ctx.inputValue(n)),
      inputValue: (n) => {
        const e = find(n);
        if (!e || !e[1]) throw new Error(`ONNX export: ${node.kernel} has no input '${n}'`);
        return e[1];
      },
      layouts,
      traces,
      outShapes: (i = 0) => shapesOf(node.outputs[i]!),
      info: infoFor,
      setHeld: (i, h) => void outHeld.set(i, h),
      hasInput: (n) => Boolean(find(n)?.[1]),
      inputCount: () => node.inputs.length,
      attr: <T>(n: string) => node.attrs[n] as T,
      shapeInts,
      outInfo: (i = 0) => infoOf(node.outputs[i]!),
      dynamicDim: (v, d) => {
        const w = alt.get(v.index);
        return Boolean(w && w.shape[d] !== v.shape[d]);
      },
      handled: (...xs) => xs.forEach((x) => handled.add(x)),
      readers,
    };
    let outs: string[];
    try {
      outs = mapping(ctx);
    } catch (e) {
      if (e instanceof UnsupportedKernelError) throw e;
      throw new Error(`ONNX export of kernel ${node.kernel} (attrs ${JSON.stringify(node.attrs)}): ${(e as Error).message}`);
    }
    if (altNode) {
      for (const k of Object.keys(node.attrs)) {
        if (handled.has(k)) continue;
        if (JSON.stringify(node.attrs[k]) !== JSON.stringify(altNode.attrs[k])) {
          throw new Error(`ONNX export: attribute '${k}' of kernel ${node.kernel} depends on the batch size (${JSON.stringify(node.attrs[k])} vs ${JSON.stringify(altNode.attrs[k])}); export with a fixed batch`);
        }
      }
    }
    node.outputs.forEach((v, i) => held.set(v.index, outHeld.get(i) ?? plainHeld(outs[i]!, shapesOf(v), v.dtype)));
  }

  // Outputs: NHWC maps back to NCHW.
  const outputs: string[] = [];
  const outShapes: number[][] = [];
  a.outputs.forEach((v, i) => {
    const outName = i === 0 ? 'output' : `output_${i}`;
    const info = infoOf(v);
    let src: string;
    let shape = info.shape;
    if (v.shape.length === 4) {
      src = layouts.nchw(heldOf(v));
      shape = [shape[0]!, shape[3]!, shape[1]!, shape[2]!];
    } else src = layouts.plain(heldOf(v));
    g.nodes.push({ op: 'Identity', inputs: [src], outputs: [outName], attrs: {} });
    g.info.set(outName, { dtype: info.dtype, shape });
    outputs.push(outName);
    outShapes.push(shape.map((d) => (typeof d === 'number' ? d : -1)));
  });
  g.outputs = outputs;
  return { g, outputs, outShapes };
}

/** Exports `model` (eval mode) to ONNX bytes. */
export async function exportOnnx(model: Exportable, opts: ExportOptions = {}): Promise<ExportResult> {
  const cfg = model.pretrainedCfg;
  const [h, w] = opts.inputSize ?? (cfg ? [cfg.inputSize[1], cfg.inputSize[2]] : [224, 224]);
  const c = opts.inChans ?? cfg?.inputSize[0] ?? 3;
  const batches: [number, number] = opts.dynamicBatch ? [2, 3] : [opts.batchSize ?? 1, opts.batchSize ?? 1];
  const prev = tf.getBackend();
  // Trace over wasm when it is there (fast, synchronous reads), else cpu; never over a GPU backend.
  const base = prev === 'cpu' || !tf.findBackendFactory('wasm') ? 'cpu' : 'wasm';
  const traceBackend = await ensureTraceBackend(base, MAPPED_KERNELS);
  const wasTraining = model.training;
  model.eval();
  let a: Trace;
  let b: Trace | null = null;
  try {
    await tf.setBackend(traceBackend);
    const forward = exportedForward(model, opts.output);
    a = await traceModel(model, forward, { inputShape: [batches[0], h, w, c] });
    if (opts.dynamicBatch) b = await traceModel(model, forward, { inputShape: [batches[1], h, w, c], reuse: a });
  } finally {
    if (prev) await tf.setBackend(prev);
    if (wasTraining) model.train();
  }
  const { g, outputs, outShapes } = buildGraph(a, b, batches, [batches[0], c, h, w]);
  g.optimize();
  if (opts.fuse !== false) {
    fuse(g);
    g.optimize();
  }
  const kernels: Record<string, number> = {};
  for (const n of a.nodes) kernels[n.kernel] = (kernels[n.kernel] ?? 0) + 1;
  const metadata: Record<string, string> = { ...(opts.metadata ?? {}) };
  if (model.variant) metadata.vizoo_model = model.variant;
  if (cfg) metadata.vizoo_config = JSON.stringify(cfg);
  metadata.vizoo_input_layout = 'NCHW';
  if (opts.output === 'hash') metadata.vizoo_output = 'hash';
  const bytes = g.toModel({ opset: opts.opset ?? 17, producer: 'vizoo', metadata });
  return {
    bytes,
    inputName: 'input',
    outputNames: outputs,
    inputShape: [opts.dynamicBatch ? -1 : batches[0], c, h, w],
    outputShapes: outShapes,
    kernels,
  };
}

/** Exports to a file (atomic write). */
export async function exportOnnxFile(model: Exportable, path: string, opts: ExportOptions = {}): Promise<ExportResult> {
  const r = await exportOnnx(model, opts);
  atomicWriteFile(path, r.bytes);
  return r;
}

