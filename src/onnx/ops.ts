/**
 * tfjs kernels -> standard ONNX ops (opset 17, default domain only). Each mapping receives the recorded
 * kernel call (inputs, attrs, traced output shapes) and emits equivalent ONNX nodes. tfjs computes NHWC
 * with HWIO filters; ONNX convolutions and pools are NCHW / OIHW. Inputs are held in lazy layouts
 * (layout.ts): convolutions take theirs as NCHW and leave NCHW results, elementwise ops, reductions,
 * slices, pads and concats run in whatever layout their input has, transposes and reshapes only change
 * the view, and every other mapping reads the plain tfjs layout (`ctx.input`). tfjs int32 tensors are
 * int64 in the graph.
 */
import { slice_util } from '@tensorflow/tfjs-core';
import { type Attr, F, type GValueInfo, type GraphBuilder, I, Is, S, ElemType, type ElemTypeId, floatTensor } from './graph.js';
import {
  type Held, type Layouts, NCHW_TO_NHWC, type Shapes, axesInO, axisInO, identityPerm, invertPerm, isPlain, isTrivial, pShapes, reshapeHeld, shapeInO,
} from './layout.js';
import type { TNode, TValue } from './trace.js';

export interface MapContext {
  g: GraphBuilder;
  node: TNode;
  /** The same kernel call in the second trace (dynamic batch), else undefined. */
  alt?: TNode;
  /** ONNX name of the input called `name` (or at position `name` when a number), in the tfjs layout. */
  input(name: string | number): string;
  /** How that input is held (an ONNX value in some layout; see layout.ts). */
  held(name: string | number): Held;
  layouts: Layouts;
  /** Number of traces (2 for a dynamic batch). */
  traces: number;
  /** Output `i`'s shape per trace. */
  outShapes(i?: number): Shapes;
  /** Value info for per-trace shapes. */
  info(dtype: string, shapes: Shapes): GValueInfo;
  /** Declares how output `i` is held (default: the returned name is the plain tfjs value). */
  setHeld(i: number, h: Held): void;
  inputValue(name: string | number): TValue;
  hasInput(name: string): boolean;
  /** Number of inputs (array inputs: Concat, Pack, AddN, Einsum). */
  inputCount(): number;
  attr<T = unknown>(name: string): T;
  /** An int64 1-D tensor with `values` (per trace): constant, or computed from the batch size. */
  shapeInts(attrName: string, values: number[], altValues?: number[]): string;
  /** Value info of output `i` (dtype, shape with dynamic dims marked). */
  outInfo(i?: number): GValueInfo;
  /** Whether dim `d` of value `v` depends on the batch size. */
  dynamicDim(v: TValue, d: number): boolean;
  /** Marks that the mapping handled attribute differences between traces itself. */
  handled(...attrs: string[]): void;
  /** The kernels of the forward that read value `v` (looking through reshapes). */
  readers(v: TValue): TNode[];
}

export type KernelMapping = (ctx: MapContext) => string[];

export function onnxDType(tfDtype: string): ElemTypeId {
  switch (tfDtype) {
    case 'float32': return ElemType.FLOAT;
    case 'int32': return ElemType.INT64;
    case 'bool': return ElemType.BOOL;
    default: throw new Error(`ONNX export: tfjs dtype '${tfDtype}' is not supported`);
  }
}

function single(f: (ctx: MapContext) => string): KernelMapping {
  return (ctx) => [f(ctx)];
}

const sameShapes = (a: Shapes, b: Shapes) => a.length === b.length && a.every((s, i) => s.length === b[i]!.length && s.every((d, j) => d === b[i]![j]));

/**
 * An elementwise op (numpy broadcasting) on held inputs: it runs in the layout of its first full-size input
 * that is not plain, with the other operands brought into that layout (constants reordered on the host),
 * else on the plain values. `emit` gets the ONNX inputs ('' for absent ones) and the output's value info.
 */
function pointwiseHeld(ctx: MapContext, ins: (Held | null)[], outT: Shapes, dtype: string, emit: (names: string[], info: GValueInfo) => string): Held {
  const L = ctx.layouts;
  const target = ins.find((h): h is Held => h !== null && !h.data && !isPlain(h) && sameShapes(h.t, outT));
  if (target) {
    const names = ins.map((h) => (h ? L.operandIn(target, h) : ''));
    const s = shapeInO(target, outT);
    if (s && names.every((n) => n !== null)) {
      return { name: emit(names as string[], ctx.info(dtype, s.o)), o: s.o, perm: target.perm, t: outT, dtype };
    }
  }
  const name = emit(ins.map((h) => (h ? L.plain(h) : '')), ctx.info(dtype, outT));
  return { name, o: outT, perm: outT[0]!.map((_, i) => i), t: outT, dtype };
}

/** A mapping of an elementwise kernel whose inputs are `inputs` (names or positions). */
function pointwise(inputs: (string | number)[], emit: (ctx: MapContext, names: string[], info: GValueInfo) => string): KernelMapping {
  return single((ctx) => {
    const ins = inputs.map((n) => (typeof n === 'number' || ctx.hasInput(n) ? ctx.held(n) : null));
    const h = pointwiseHeld(ctx, ins, ctx.outShapes(), ctx.node.outputs[0]!.dtype, (names, info) => emit(ctx, names, info));
    ctx.setHeld(0, h);
    return h.name;
  });
}

function unary(op: string, attrs: (ctx: MapContext) => Record<string, Attr> = () => ({})): KernelMapping {
  return pointwise([0], (ctx, [x], info) => ctx.g.op(op, [x!], attrs(ctx), info));
}

function binary(op: string): KernelMapping {
  return pointwise([0, 1], (ctx, [x, y], info) => ctx.g.op(op, [x!, y!], {}, info));
}

/** Passes input `name` through unchanged (no node). */
function passThrough(ctx: MapContext, name: string | number = 0): string {
  const h = ctx.held(name);
  ctx.setHeld(0, { ...h, t: ctx.outShapes() });
  return h.name;
}

/** Output `i` as the NCHW ONNX value `name` of an NHWC tfjs output. */
function nchwOutput(ctx: MapContext, name: string, i = 0): string {
  const t = ctx.outShapes(i);
  ctx.setHeld(i, { name, o: t.map((s) => [s[0]!, s[3]!, s[1]!, s[2]!]), perm: NCHW_TO_NHWC, t, dtype: ctx.node.outputs[i]!.dtype });
  return name;
}

/** NCHW info of an NHWC output. */
function nchwInfo(ctx: MapContext, i = 0): GValueInfo {
  return ctx.info(ctx.node.outputs[i]!.dtype, ctx.outShapes(i).map((s) => [s[0]!, s[3]!, s[1]!, s[2]!]));
}

/** Applies `fn` in NCHW to the NHWC input `x`; the output stays NCHW (held as the NHWC value). */
function inNchw(ctx: MapContext, x: string | number, fn: (xNchw: string, info: GValueInfo) => string): string {
  return nchwOutput(ctx, fn(ctx.layouts.nchw(ctx.held(x)), nchwInfo(ctx)));
}

function normAxes(axis: unknown, rank: number): number[] {
  if (axis === null || axis === undefined) return Array.from({ length: rank }, (_, i) => i);
  const list = Array.isArray(axis) ? (axis as number[]) : [axis as number];
  return list.map((a) => (a < 0 ? a + rank : a));
}

type PadSpec = number | 'valid' | 'same' | number[][] | 'explicit';

/**
 * ONNX pads [top, left, bottom, right] for a tfjs conv / pool, from its pad attribute and the traced
 * output size (so number pads with any rounding mode and 'same' come out exactly as tfjs computed them).
 */
function convPads(pad: PadSpec, dataFormat: string, inHW: number[], outHW: number[], k: number[], s: number[], d: number[]): number[] {
  if (Array.isArray(pad)) {
    const [ph, pw] = dataFormat === 'NCHW' ? [pad[2]!, pad[3]!] : [pad[1]!, pad[2]!];
    return [ph[0]!, pw[0]!, ph[1]!, pw[1]!];
  }
  const begin = [0, 0];
  const end = [0, 0];
  for (let a = 0; a < 2; a++) {
    const dk = (k[a]! - 1) * d[a]! + 1;
    const total = Math.max(0, (outHW[a]! - 1) * s[a]! + dk - inHW[a]!);
    if (typeof pad === 'number') begin[a] = pad;
    else if (pad === 'same') begin[a] = Math.floor(total / 2);
    else begin[a] = 0;
    end[a] = Math.max(0, total - begin[a]!);
  }
  return [begin[0]!, begin[1]!, end[0]!, end[1]!];
}

const pair = (v: unknown): number[] => (Array.isArray(v) ? [Number(v[0]), Number(v[1] ?? v[0])] : [Number(v ?? 1), Number(v ?? 1)]);

/** A held parameter transposed (and reshaped to `shape`), as an ONNX value: usually the initializer itself. */
function weight(ctx: MapContext, h: Held, perm: number[], shape?: number[]): string {
  const t = ctx.layouts.transposedHeld(h, perm);
  return ctx.layouts.plain(shape ? reshapeHeld(t, t.t.map(() => shape)) : t);
}

/** Conv2D / FusedConv2D / DepthwiseConv2dNative (+ fused) on NHWC or NCHW. */
function conv(ctx: MapContext, depthwise: boolean): string {
  const { g, node } = ctx;
  const dataFormat = depthwise ? 'NHWC' : String(ctx.attr('dataFormat') ?? 'NHWC');
  const xv = ctx.inputValue('x');
  const fv = ctx.inputValue('filter');
  const [kh, kw, cin, cout] = fv.shape as [number, number, number, number];
  const strides = pair(ctx.attr('strides'));
  const dil = pair(ctx.attr('dilations') ?? 1);
  const out = node.outputs[0]!;
  const nchw = dataFormat === 'NCHW';
  const inHW = nchw ? [xv.shape[2]!, xv.shape[3]!] : [xv.shape[1]!, xv.shape[2]!];
  const outHW = nchw ? [out.shape[2]!, out.shape[3]!] : [out.shape[1]!, out.shape[2]!];
  const pads = convPads(ctx.attr('pad') as PadSpec, dataFormat, inHW, outHW, [kh, kw], strides, dil);
  let w: string;
  let group = 1;
  if (depthwise) {
    // (kh, kw, C, m) -> (C*m, 1, kh, kw); output channel c*m + j, as PyTorch's depthwise conv.
    w = weight(ctx, ctx.held('filter'), [2, 3, 0, 1], [cin * cout, 1, kh, kw]);
    group = cin;
  } else {
    const cinX = nchw ? xv.shape[1]! : xv.shape[3]!;
    w = weight(ctx, ctx.held('filter'), [3, 2, 0, 1]);
    group = cinX / cin;
  }
  const attrs = { kernel_shape: Is([kh, kw]), strides: Is(strides), dilations: Is(dil), pads: Is(pads), group: I(group) };
  // A 1-D bias is the Conv's own input.
  const bias = ctx.hasInput('bias') && ctx.inputValue('bias').shape.length === 1 && ctx.inputValue('bias').shape[0] === cout ? ctx.input('bias') : null;
  const ins = (x: string) => [x, w, ...(bias ? [bias] : [])];
  const act = ctx.attr<string>('activation') ?? 'linear';
  const plainTail = !bias && ctx.hasInput('bias');
  if (nchw) {
    const y = g.op('Conv', ins(ctx.input('x')), attrs, ctx.outInfo());
    return plainTail || act !== 'linear' ? fusedTail(ctx, plainHeldOf(ctx, y), !bias) : y;
  }
  const y = inNchw(ctx, 'x', (x, info) => g.op('Conv', ins(x), attrs, info));
  return fusedTail(ctx, { name: y, o: ctx.outShapes().map((s) => [s[0]!, s[3]!, s[1]!, s[2]!]), perm: NCHW_TO_NHWC, t: ctx.outShapes(), dtype: 'float32' }, !bias);
}

function plainHeldOf(ctx: MapContext, name: string): Held {
  const t = ctx.outShapes();
  return { name, o: t, perm: t[0]!.map((_, i) => i), t, dtype: ctx.node.outputs[0]!.dtype };
}

/** Bias (when `addBias`) and activation of the fused kernels (_FusedMatMul, FusedConv2D, FusedDepthwiseConv2D) on held `y`. */
function fusedTail(ctx: MapContext, y: Held, addBias: boolean): string {
  const { g } = ctx;
  const t = ctx.outShapes();
  const dtype = ctx.node.outputs[0]!.dtype;
  if (addBias && ctx.hasInput('bias')) y = pointwiseHeld(ctx, [y, ctx.held('bias')], t, dtype, ([a, b], info) => g.op('Add', [a!, b!], {}, info));
  const act = (ctx.attr<string>('activation') ?? 'linear') as string;
  if (act !== 'linear') {
    const prelu = act === 'prelu' ? ctx.held('preluActivationWeights') : null;
    y = pointwiseHeld(ctx, [y, prelu], t, dtype, ([a, p], info) => activation(g, a!, act, info, p, ctx.attr<number>('leakyreluAlpha')));
  }
  ctx.setHeld(0, y);
  return y.name;
}

function activation(g: GraphBuilder, y: string, act: string, info: GValueInfo, preluWeights?: string, alpha?: number): string {
  switch (act) {
    case 'linear': return y;
    case 'relu': return g.op('Relu', [y], {}, info);
    case 'relu6': return g.op('Clip', [y, g.scalarFloat(0), g.scalarFloat(6)], {}, info);
    case 'elu': return g.op('Elu', [y], { alpha: F(1) }, info);
    case 'sigmoid': return g.op('Sigmoid', [y], {}, info);
    case 'leakyrelu': return g.op('LeakyRelu', [y], { alpha: F(alpha ?? 0.2) }, info);
    case 'prelu': return g.op('PRelu', [y, preluWeights!], {}, info);
    default: throw new Error(`ONNX export: fused activation '${act}' is not supported`);
  }
}

function pool(op: 'AveragePool' | 'MaxPool'): KernelMapping {
  return single((ctx) => {
    const xv = ctx.inputValue('x');
    const out = ctx.node.outputs[0]!;
    const k = pair(ctx.attr('filterSize'));
    const s = pair(ctx.attr('strides'));
    const pads = convPads(ctx.attr('pad') as PadSpec, 'NHWC', [xv.shape[1]!, xv.shape[2]!], [out.shape[1]!, out.shape[2]!], k, s, [1, 1]);
    const attrs: Record<string, Attr> = { kernel_shape: Is(k), strides: Is(s), pads: Is(pads) };
    // tfjs averages over the real (unpadded) cells of each window.
    if (op === 'AveragePool') attrs.count_include_pad = I(0);
    return inNchw(ctx, 'x', (x, info) => ctx.g.op(op, [x], attrs, info));
  });
}

/**
 * Reductions run on the held layout when the reduced axes map onto it (keeping the reduced axes as 1s;
 * dropping them is a lazy reshape), else on the plain value.
 */
function reduce(op: string, opts: { bool?: boolean } = {}): KernelMapping {
  return single((ctx) => {
    const { g } = ctx;
    const h = ctx.held(0);
    const rank = h.t[0]!.length;
    // Max names its axes 'reductionIndices'; the other reductions 'axis'.
    const axes = normAxes(ctx.node.attrs.axis !== undefined ? ctx.attr('axis') : ctx.attr('reductionIndices'), rank);
    if (axes.length === 0) return passThrough(ctx);
    const oAxes = isPlain(h) ? null : axesInO(h, axes);
    const keep = oAxes || ctx.attr<boolean>('keepDims') ? 1 : 0;
    const src = oAxes ? h.name : ctx.input(0);
    const ax = oAxes ?? axes;
    let x = src;
    if (opts.bool) x = g.op('Cast', [x], { to: I(ElemType.INT64) });
    let y = op === 'ReduceSum' ? g.op(op, [x, g.ints(ax)], { keepdims: I(keep) }) : g.op(op, [x], { axes: Is(ax), keepdims: I(keep) });
    if (opts.bool) y = g.op('Cast', [y], { to: I(ElemType.BOOL) });
    if (!oAxes) {
      g.info.set(y, ctx.outInfo());
      return y;
    }
    const o = h.o.map((s) => s.map((d, i) => (oAxes.includes(i) ? 1 : d)));
    g.info.set(y, ctx.info(ctx.node.outputs[0]!.dtype, o));
    ctx.setHeld(0, { name: y, o, perm: h.perm, t: ctx.outShapes(), dtype: ctx.node.outputs[0]!.dtype });
    return y;
  });
}

/** ArgMax / ArgMin along one axis, on the held layout when the axis maps onto it. */
function argReduce(op: 'ArgMax' | 'ArgMin'): KernelMapping {
  return single((ctx) => {
    const h = ctx.held(0);
    const [axis] = normAxes(ctx.attr('axis'), h.t[0]!.length);
    const oAxis = isPlain(h) ? null : axisInO(h, axis!);
    if (oAxis === null) return ctx.g.op(op, [ctx.input(0)], { axis: I(axis!), keepdims: I(0) }, ctx.outInfo());
    const o = h.o.map((s) => s.map((d, i) => (i === oAxis ? 1 : d)));
    const y = ctx.g.op(op, [h.name], { axis: I(oAxis), keepdims: I(1) }, ctx.info('int32', o));
    ctx.setHeld(0, { name: y, o, perm: h.perm, t: ctx.outShapes(), dtype: 'int32' });
    return y;
  });
}

/** Softmax / LogSoftmax along tfjs axis `axis`: on the held layout when that axis is one axis there. */
function softmax(ctx: MapContext, op: string, axis: number): string {
  const h = ctx.held(0);
  const rank = h.t[0]!.length;
  const a = axis < 0 ? axis + rank : axis;
  const oAxis = isPlain(h) ? null : axisInO(h, a);
  if (oAxis === null) return ctx.g.op(op, [ctx.input(0)], { axis: I(a) }, ctx.outInfo());
  const y = ctx.g.op(op, [h.name], { axis: I(oAxis) }, ctx.info('float32', h.o));
  ctx.setHeld(0, { ...h, name: y, t: ctx.outShapes(), data: undefined });
  return y;
}

const swapLast2 = (rank: number): number[] => {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return perm;
};

/** Whether the op's output goes into an erf GELU (x * 1/sqrt(2) -> Erf, the way nn/functional's gelu traces). */
function entersGelu(ctx: MapContext): boolean {
  const isErf = (n: TNode) => n.kernel === 'Erf';
  return ctx.readers(ctx.node.outputs[0]!).some((n) => n.kernel === 'Multiply' && ctx.readers(n.outputs[0]!).some(isErf));
}

/**
 * BatchMatMul. A product of a map's channels (an NCHW-held (B, H, W, C) value seen as rows of C) with a
 * constant matrix that goes into a GELU is a MatMul on the channels-last map, as PyTorch's permute + Linear
 * exports: onnxruntime fuses bias and GELU into BiasGelu, which beats the NCHWc 1x1 conv, its separate Gelu
 * and the reorders around them (0.65x the time, docs/architecture.md). Otherwise it is a 1x1 Conv and the
 * map stays NCHW (without the fusion, the transposes cost more than they save). A matrix shared by the batch
 * (batch 1) is a 2-D operand, and operands of batch 1 on both sides make a 2-D MatMul (so bias adds fuse
 * into Gemm).
 */
function matmul(ctx: MapContext): Held {
  const { g } = ctx;
  const L = ctx.layouts;
  let a = ctx.held('a');
  let b = ctx.held('b');
  const outT = ctx.outShapes();
  if (ctx.attr('transposeA')) a = L.transposedHeld(a, swapLast2(a.t[0]!.length));
  if (ctx.attr('transposeB')) b = L.transposedHeld(b, swapLast2(b.t[0]!.length));
  const rankB = b.t[0]!.length;
  const sharedB = rankB === 2 || b.t.every((s) => s.slice(0, -2).every((d) => d === 1));
  const [k, n] = b.t[0]!.slice(-2) as [number, number];
  const aLast = a.t[0]!.length - 1;
  // A map of one pixel (a pooled classifier input) is a plain matrix: a Gemm, not a 1x1 Conv with reorders around it.
  const onePixel = a.o.every((s) => s[2] === 1 && s[3] === 1);
  const rowsOfMap = sharedB && g.isConstant(b.name) && a.o[0]!.length === 4 && !isPlain(a) && axisInO(a, aLast) === 1 && a.o.every((s) => s[1] === k) && !onePixel;
  if (rowsOfMap) {
    // The MatMul form needs the channels as the last axis of transpose(O, perm).
    if (!entersGelu(ctx) || a.perm[3] !== 1) {
      const w = weight(ctx, reshapeHeld(b, b.t.map(() => [k, n])), [1, 0], [n, k, 1, 1]);
      const o = a.o.map((s) => [s[0]!, n, s[2]!, s[3]!]);
      const y = g.op('Conv', [a.name, w], { kernel_shape: Is([1, 1]) }, ctx.info('float32', o));
      return { name: y, o, perm: a.perm, t: outT, dtype: 'float32' };
    }
    const w = weight(ctx, reshapeHeld(b, b.t.map(() => [k, n])), [0, 1], [k, n]);
    const o = pShapes(a).map((s) => [...s.slice(0, -1), n]);
    const y = g.op('MatMul', [ctx.layouts.permuted(a), w], {}, ctx.info('float32', o));
    return { name: y, o, perm: identityPerm(4), t: outT, dtype: 'float32' };
  }
  const lead = (h: Held) => h.t.map((s) => s.slice(0, -2).reduce((x, y) => x * y, 1));
  const as2d = sharedB && lead(a).every((d) => d === 1);
  const an = L.plain(as2d ? reshapeHeld(a, a.t.map((s) => s.slice(-2))) : a);
  const bn = L.plain(sharedB ? reshapeHeld(b, b.t.map((s) => s.slice(-2))) : b);
  const o = as2d ? outT.map((s) => s.slice(-2)) : outT;
  const y = g.op('MatMul', [an, bn], {}, ctx.info('float32', o));
  return { name: y, o, perm: o[0]!.map((_, i) => i), t: outT, dtype: 'float32' };
}

function resize(mode: 'linear' | 'nearest'): KernelMapping {
  return single((ctx) => {
    const { g } = ctx;
    const align = Boolean(ctx.attr('alignCorners'));
    const half = Boolean(ctx.attr('halfPixelCenters'));
    const [oh, ow] = ctx.attr<number[]>('size');
    const attrs: Record<string, Attr> = { mode: S(mode) };
    if (mode === 'linear') attrs.coordinate_transformation_mode = S(align ? 'align_corners' : half ? 'half_pixel' : 'asymmetric');
    else {
      // tfjs: src = min(in-1, align ? round(dst*scale') : floor((dst + 0.5*half) * scale))
      attrs.coordinate_transformation_mode = S(align ? 'align_corners' : half ? 'tf_half_pixel_for_nn' : 'asymmetric');
      attrs.nearest_mode = S(align ? 'round_prefer_ceil' : 'floor');
    }
    return inNchw(ctx, 'images', (x, info) => {
      const lead = g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([2])]);
      const sizes = g.op('Concat', [lead, g.ints([oh!, ow!])], { axis: I(0) });
      return g.op('Resize', [x, '', '', sizes], attrs, info);
    });
  });
}

/** The held input `name` in a layout without reshape (materialized when its view has one). */
function trivialHeld(ctx: MapContext, name: string | number): Held {
  const h = ctx.held(name);
  return isTrivial(h) ? h : ctx.layouts.plainHeld(h);
}

/** Output `i` held in layout `perm` (no reshape): `name` is transpose(T, inverse(perm)). */
function permutedOutput(ctx: MapContext, name: string, perm: number[], i = 0): string {
  const t = ctx.outShapes(i);
  const inv = invertPerm(perm);
  const o = t.map((s) => inv.map((a) => s[a]!));
  ctx.g.info.set(name, ctx.info(ctx.node.outputs[i]!.dtype, o));
  ctx.setHeld(i, { name, o, perm, t, dtype: ctx.node.outputs[i]!.dtype });
  return name;
}

const INT64_MAX = 9223372036854775807;

/** tfjs begin/size (size -1 = to the end) -> ONNX Slice. */
function slice(ctx: MapContext): string {
  const { g } = ctx;
  const xv = ctx.inputValue('x');
  const rank = xv.shape.length;
  const norm = (n: TNode | undefined) => (n ? slice_util.parseSliceParams({ shape: n.inputs[0]![1]!.shape, rank } as never, n.attrs.begin as number[], n.attrs.size as number[]) : undefined);
  const [begin, size] = norm(ctx.node)!;
  const [altBegin, altSize] = norm(ctx.alt) ?? [undefined, undefined];
  ctx.handled('begin', 'size');
  const ends: number[] = [];
  const altEnds: number[] = [];
  const altX = ctx.alt?.inputs[0]![1];
  for (let d = 0; d < rank; d++) {
    // The whole axis (in both traces): open-ended, so it follows a dynamic batch.
    const full = begin[d] === 0 && size[d] === xv.shape[d] && (!altX || (altBegin![d] === 0 && altSize![d] === altX.shape[d]));
    ends.push(full ? INT64_MAX : begin[d]! + size[d]!);
    altEnds.push(full ? INT64_MAX : (altBegin?.[d] ?? begin[d]!) + (altSize?.[d] ?? size[d]!));
  }
  const starts = ctx.shapeInts('begin', begin, altBegin);
  const endT = ctx.shapeInts('size', ends, ctx.alt ? altEnds : undefined);
  // In the held layout: the starts and ends of T's axis d apply to O's axis perm[d].
  const h = trivialHeld(ctx, 'x');
  return permutedOutput(ctx, g.op('Slice', [h.name, starts, endT, g.ints(h.perm)]), h.perm);
}

function stridedSlice(ctx: MapContext): string {
  const { g } = ctx;
  const xv = ctx.inputValue('x');
  const a = (n: string) => ctx.attr<number>(n) ?? 0;
  const info = slice_util.sliceInfo(xv.shape, ctx.attr('begin'), ctx.attr('end'), ctx.attr('strides'), a('beginMask'), a('endMask'), a('ellipsisMask'), a('newAxisMask'), a('shrinkAxisMask'));
  for (let d = 0; d < xv.shape.length; d++) {
    if (ctx.dynamicDim(xv, d) && !(info.begin[d] === 0 && info.end[d] === xv.shape[d] && info.strides[d] === 1)) {
      throw new Error('ONNX export: a strided slice along a batch-dependent axis cannot be exported with a dynamic batch');
    }
  }
  ctx.handled('begin', 'end');
  const ends = info.end.map((e, d) => {
    if (info.strides[d]! < 0 && e < 0) return -INT64_MAX;
    if (info.begin[d] === 0 && e === xv.shape[d] && info.strides[d] === 1) return INT64_MAX;
    return e;
  });
  const rank = xv.shape.length;
  let y = g.op('Slice', [ctx.input('x'), g.ints(info.begin), g.ints(ends), g.ints(Array.from({ length: rank }, (_, i) => i)), g.ints(info.strides)]);
  const out = ctx.node.outputs[0]!;
  y = g.op('Reshape', [y, ctx.shapeInts('__out', out.shape.map((d, i) => (ctx.dynamicDim(out, i) ? -1 : d)))], {}, ctx.outInfo());
  return y;
}

function pad(ctx: MapContext, mode: string): string {
  const { g } = ctx;
  const h = trivialHeld(ctx, 'x');
  const inv = invertPerm(h.perm);
  // O's axis i is T's axis inv[i].
  const p = inv.map((a) => ctx.attr<number[][]>('paddings')[a]!);
  const pads = [...p.map((q) => q[0]!), ...p.map((q) => q[1]!)];
  const inputs = [h.name, g.ints(pads)];
  if (mode === 'constant') inputs.push(g.scalarFloat(ctx.attr<number>('constantValue') ?? 0));
  return permutedOutput(ctx, g.op('Pad', inputs, { mode: S(mode) }), h.perm);
}

function castTo(ctx: MapContext, x: string, tfDtype: string): string {
  return ctx.g.op('Cast', [x], { to: I(onnxDType(tfDtype)) });
}

/** The mapping table: every tfjs kernel vizoo models may run, by kernel name. */
export const KERNEL_MAPPINGS: Record<string, KernelMapping> = {
  Identity: single((ctx) => passThrough(ctx)),
  Cast: (ctx) => {
    const to = ctx.attr<string>('dtype');
    if (ctx.inputValue('x').dtype === to) return [passThrough(ctx, 'x')];
    // float32 -> int32: tfjs truncates toward zero, as ONNX Cast does.
    return pointwise(['x'], (c, [x], info) => c.g.op('Cast', [x!], { to: I(onnxDType(to)) }, info))(ctx);
  },
  Add: binary('Add'),
  AddV2: binary('Add'),
  Sub: binary('Sub'),
  Multiply: binary('Mul'),
  RealDiv: binary('Div'),
  Maximum: binary('Max'),
  Minimum: binary('Min'),
  Pow: binary('Pow'),
  Equal: binary('Equal'),
  Less: binary('Less'),
  LessEqual: binary('LessOrEqual'),
  Greater: binary('Greater'),
  GreaterEqual: binary('GreaterOrEqual'),
  LogicalAnd: binary('And'),
  LogicalOr: binary('Or'),
  NotEqual: pointwise([0, 1], ({ g }, [a, b], info) => g.op('Not', [g.op('Equal', [a!, b!])], {}, info)),
  SquaredDifference: pointwise([0, 1], ({ g }, [a, b], info) => {
    const d = g.op('Sub', [a!, b!]);
    return g.op('Mul', [d, d], {}, info);
  }),
  FloorDiv: pointwise([0, 1], (ctx, [a, b], info) => {
    const { g } = ctx;
    if (ctx.inputValue(0).dtype === 'float32') return g.op('Floor', [g.op('Div', [a!, b!])], {}, info);
    const f = (x: string) => g.op('Cast', [x], { to: I(ElemType.DOUBLE) });
    const q = g.op('Floor', [g.op('Div', [f(a!), f(b!)])]);
    return g.op('Cast', [q], { to: I(ElemType.INT64) }, info);
  }),
  Mod: pointwise([0, 1], (ctx, [a, b], info) => {
    const { g } = ctx;
    if (ctx.inputValue(0).dtype !== 'float32') return g.op('Mod', [a!, b!], { fmod: I(0) }, info);
    // floor-mod (sign of the divisor), as tfjs: a - floor(a / b) * b
    const q = g.op('Floor', [g.op('Div', [a!, b!])]);
    return g.op('Sub', [a!, g.op('Mul', [q, b!])], {}, info);
  }),
  Atan2: single(() => {
    throw new Error('ONNX export: Atan2 has no ONNX equivalent in opset 17');
  }),
  Abs: unary('Abs'),
  Neg: unary('Neg'),
  Exp: unary('Exp'),
  Log: unary('Log'),
  Sqrt: unary('Sqrt'),
  Rsqrt: pointwise([0], ({ g }, [x], info) => g.op('Reciprocal', [g.op('Sqrt', [x!])], {}, info)),
  Reciprocal: unary('Reciprocal'),
  Square: pointwise([0], ({ g }, [x], info) => g.op('Mul', [x!, x!], {}, info)),
  Sigmoid: unary('Sigmoid'),
  Tanh: unary('Tanh'),
  Erf: unary('Erf'),
  Relu: unary('Relu'),
  Relu6: pointwise([0], ({ g }, [x], info) => g.op('Clip', [x!, g.scalarFloat(0), g.scalarFloat(6)], {}, info)),
  Elu: unary('Elu', () => ({ alpha: F(1) })),
  Selu: unary('Selu', () => ({ alpha: F(1.6732632423543772), gamma: F(1.0507009873554805) })),
  LeakyRelu: unary('LeakyRelu', (ctx) => ({ alpha: F(ctx.attr<number>('alpha')) })),
  Prelu: binary('PRelu'),
  Softplus: unary('Softplus'),
  Sin: unary('Sin'),
  Cos: unary('Cos'),
  Tan: unary('Tan'),
  Asin: unary('Asin'),
  Acos: unary('Acos'),
  Atan: unary('Atan'),
  Sinh: unary('Sinh'),
  Cosh: unary('Cosh'),
  Asinh: unary('Asinh'),
  Acosh: unary('Acosh'),
  Atanh: unary('Atanh'),
  Floor: unary('Floor'),
  Ceil: unary('Ceil'),
  Round: unary('Round'),
  Sign: unary('Sign'),
  IsNan: unary('IsNaN'),
  LogicalNot: unary('Not'),
  Expm1: pointwise([0], ({ g }, [x], info) => g.op('Sub', [g.op('Exp', [x!]), g.scalarFloat(1)], {}, info)),
  Log1p: pointwise([0], ({ g }, [x], info) => g.op('Log', [g.op('Add', [x!, g.scalarFloat(1)])], {}, info)),
  Step: pointwise([0], (ctx, [x], info) => {
    const { g } = ctx;
    const pos = g.op('Greater', [x!, g.scalarFloat(0)]);
    return g.op('Where', [pos, g.scalarFloat(1), g.scalarFloat(ctx.attr<number>('alpha') ?? 0)], {}, info);
  }),
  ClipByValue: pointwise([0], (ctx, [x], info) => ctx.g.op('Clip', [x!, ctx.g.scalarFloat(ctx.attr('clipValueMin')), ctx.g.scalarFloat(ctx.attr('clipValueMax'))], {}, info)),
  Select: pointwise(['condition', 't', 'e'], ({ g }, [c, t, e], info) => g.op('Where', [c!, t!, e!], {}, info)),
  ZerosLike: pointwise([0], (ctx, [x], info) => ctx.g.op('ConstantOfShape', [ctx.g.op('Shape', [x!])], { value: { t: constValue(ctx, 0) } }, info)),
  OnesLike: pointwise([0], (ctx, [x], info) => ctx.g.op('ConstantOfShape', [ctx.g.op('Shape', [x!])], { value: { t: constValue(ctx, 1) } }, info)),

  // Reshapes and transposes only change how the value is viewed (layout.ts): no node.
  Reshape: single((ctx) => {
    ctx.handled('shape');
    return passThrough(ctx, 'x');
  }),
  Transpose: single((ctx) => {
    const h = ctx.layouts.transposedHeld(ctx.held('x'), ctx.attr<number[]>('perm'));
    ctx.setHeld(0, h);
    return h.name;
  }),
  ExpandDims: single((ctx) => passThrough(ctx)),
  Squeeze: single((ctx) => passThrough(ctx)),
  Concat: single((ctx) => {
    const n = ctx.inputCount();
    const rank = ctx.inputValue(0).shape.length;
    let axis = ctx.attr<number>('axis');
    if (axis < 0) axis += rank;
    const parts = Array.from({ length: n }, (_, i) => i).filter((i) => ctx.inputValue(i).shape[axis] !== 0);
    if (parts.length === 1) return passThrough(ctx, parts[0]!);
    // In the layout of the first part held without a reshape (the others brought into it).
    const held = parts.map((i) => ctx.held(i));
    const lead = held.find((h) => isTrivial(h) && !isPlain(h));
    const perm = lead?.perm ?? held[0]!.t[0]!.map((_, i) => i);
    const inputs = held.map((h) => (isTrivial(h) && h.perm.join() === perm.join() ? h.name : ctx.layouts.inLayout(h, perm)));
    return permutedOutput(ctx, ctx.g.op('Concat', inputs, { axis: I(perm[axis]!) }), perm);
  }),
  Pack: single((ctx) => {
    const n = ctx.inputCount();
    const rank = ctx.inputValue(0).shape.length;
    let axis = ctx.attr<number>('axis');
    if (axis < 0) axis += rank + 1;
    const parts = Array.from({ length: n }, (_, i) => ctx.g.op('Unsqueeze', [ctx.input(i), ctx.g.ints([axis])]));
    return ctx.g.op('Concat', parts, { axis: I(axis) }, ctx.outInfo());
  }),
  Unpack: (ctx) => {
    const v = ctx.inputValue('value');
    let axis = ctx.attr<number>('axis');
    if (axis < 0) axis += v.shape.length;
    const n = v.shape[axis]!;
    // Split in the held layout; dropping the unit axis is a lazy reshape.
    const h = trivialHeld(ctx, 'value');
    const inv = invertPerm(h.perm);
    const parts = ctx.g.node('Split', [h.name, ctx.g.ints(new Array(n).fill(1))], { axis: I(h.perm[axis]!) }, n);
    return parts.map((p, i) => {
      const o = h.t.map((s) => inv.map((a) => (a === axis ? 1 : s[a]!)));
      ctx.g.info.set(p, ctx.info(v.dtype, o));
      ctx.setHeld(i, { name: p, o, perm: h.perm, t: ctx.outShapes(i), dtype: v.dtype });
      return p;
    });
  },
  SplitV: (ctx) => {
    const v = ctx.inputValue('x');
    let axis = ctx.attr<number>('axis');
    if (axis < 0) axis += v.shape.length;
    const sizes = ctx.node.outputs.map((o) => o.shape[axis]!);
    const h = trivialHeld(ctx, 'x');
    const outs = ctx.g.node('Split', [h.name, ctx.g.ints(sizes)], { axis: I(h.perm[axis]!) }, sizes.length);
    outs.forEach((o, i) => permutedOutput(ctx, o, h.perm, i));
    ctx.handled('numOrSizeSplits');
    return outs;
  },
  Slice: single(slice),
  StridedSlice: single(stridedSlice),
  Reverse: single((ctx) => {
    const v = ctx.inputValue('x');
    const h = trivialHeld(ctx, 'x');
    const dims = normAxes(ctx.attr('dims'), v.shape.length).map((d) => h.perm[d]!);
    const n = dims.length;
    return permutedOutput(ctx, ctx.g.op('Slice', [h.name, ctx.g.ints(new Array(n).fill(-1)), ctx.g.ints(new Array(n).fill(-INT64_MAX)), ctx.g.ints(dims), ctx.g.ints(new Array(n).fill(-1))]), h.perm);
  }),
  PadV2: single((ctx) => pad(ctx, 'constant')),
  MirrorPad: single((ctx) => {
    if (ctx.attr('mode') !== 'reflect') throw new Error(`ONNX export: MirrorPad mode '${String(ctx.attr('mode'))}' has no ONNX equivalent`);
    return pad(ctx, 'reflect');
  }),
  GatherV2: single((ctx) => {
    const v = ctx.inputValue('x');
    if ((ctx.attr<number>('batchDims') ?? 0) !== 0) throw new Error('ONNX export: gather with batchDims > 0 is not supported');
    let axis = ctx.attr<number>('axis');
    if (axis < 0) axis += v.shape.length;
    return ctx.g.op('Gather', [ctx.input('x'), ctx.input('indices')], { axis: I(axis) }, ctx.outInfo());
  }),
  GatherNd: single((ctx) => ctx.g.op('GatherND', [ctx.input('params'), ctx.input('indices')], {}, ctx.outInfo())),
  ScatterNd: single((ctx) => {
    const { g } = ctx;
    const shape = ctx.attr<number[]>('shape');
    const zeros = g.op('ConstantOfShape', [g.ints(shape)], { value: { t: constValue(ctx, 0) } });
    return g.op('ScatterND', [zeros, ctx.input('indices'), ctx.input('updates')], { reduction: S('add') }, ctx.outInfo());
  }),
  TensorScatterUpdate: single((ctx) => ctx.g.op('ScatterND', [ctx.input('tensor'), ctx.input('indices'), ctx.input('updates')], {}, ctx.outInfo())),
  Tile: single((ctx) => {
    ctx.handled('reps');
    const reps = ctx.attr<number[]>('reps');
    return ctx.g.op('Tile', [ctx.input('x'), ctx.shapeInts('reps', reps, ctx.alt?.attrs.reps as number[] | undefined)], {}, ctx.outInfo());
  }),
  BroadcastTo: single((ctx) => {
    ctx.handled('shape', 'inputShape');
    const shape = ctx.attr<number[]>('shape');
    return ctx.g.op('Expand', [ctx.input('x'), ctx.shapeInts('shape', shape, ctx.alt?.attrs.shape as number[] | undefined)], {}, ctx.outInfo());
  }),

  Sum: reduce('ReduceSum'),
  Mean: reduce('ReduceMean'),
  Max: reduce('ReduceMax'),
  Min: reduce('ReduceMin'),
  Prod: reduce('ReduceProd'),
  All: reduce('ReduceMin', { bool: true }),
  Any: reduce('ReduceMax', { bool: true }),
  ArgMax: argReduce('ArgMax'),
  ArgMin: argReduce('ArgMin'),
  Softmax: single((ctx) => softmax(ctx, 'Softmax', ctx.attr<number>('dim') ?? -1)),
  LogSoftmax: single((ctx) => softmax(ctx, 'LogSoftmax', ctx.attr<number>('axis') ?? -1)),
  Cumsum: single((ctx) => {
    const rank = ctx.inputValue('x').shape.length;
    let axis = ctx.attr<number>('axis');
    if (axis < 0) axis += rank;
    return ctx.g.op('CumSum', [ctx.input('x'), ctx.g.constant({ dtype: ElemType.INT64, dims: [], raw: new Uint8Array(BigInt64Array.from([BigInt(axis)]).buffer) })], { exclusive: I(ctx.attr('exclusive') ? 1 : 0), reverse: I(ctx.attr('reverse') ? 1 : 0) }, ctx.outInfo());
  }),
  TopK: (ctx) => {
    const k = ctx.attr<number>('k');
    const outs = ctx.g.node('TopK', [ctx.input('x'), ctx.g.ints([k])], { axis: I(-1), largest: I(1), sorted: I(1) }, 2, [ctx.outInfo(0), ctx.outInfo(1)]);
    return outs;
  },
  Einsum: single((ctx) => {
    const n = ctx.inputCount();
    return ctx.g.op('Einsum', Array.from({ length: n }, (_, i) => ctx.input(i)), { equation: S(ctx.attr<string>('equation')) }, ctx.outInfo());
  }),
  AddN: single((ctx) => ctx.g.op('Sum', Array.from({ length: ctx.inputCount() }, (_, i) => ctx.input(i)), {}, ctx.outInfo())),

  BatchMatMul: single((ctx) => {
    const h = matmul(ctx);
    ctx.setHeld(0, h);
    return h.name;
  }),
  _FusedMatMul: single((ctx) => fusedTail(ctx, matmul(ctx), true)),
  Conv2D: single((ctx) => conv(ctx, false)),
  FusedConv2D: single((ctx) => conv(ctx, false)),
  DepthwiseConv2dNative: single((ctx) => conv(ctx, true)),
  FusedDepthwiseConv2D: single((ctx) => conv(ctx, true)),
  Conv2DBackpropInput: single((ctx) => {
    // conv2dTranspose: dy (B, h, w, inC) with filter (kh, kw, outC, inC) -> (B, H, W, outC)
    const { g } = ctx;
    ctx.handled('inputShape');
    const fv = ctx.inputValue('filter');
    const [kh, kw] = fv.shape as [number, number];
    const s = pair(ctx.attr('strides'));
    const dyv = ctx.inputValue('dy');
    const out = ctx.node.outputs[0]!;
    const p = convPads(ctx.attr('pad') as PadSpec, 'NHWC', [out.shape[1]!, out.shape[2]!], [dyv.shape[1]!, dyv.shape[2]!], [kh, kw], s, [1, 1]);
    const w = weight(ctx, ctx.held('filter'), [3, 2, 0, 1]);
    // output = s*(in-1) + output_padding + k - pad_begin - pad_end
    const extra = [0, 1].map((a) => out.shape[1 + a]! - (s[a]! * (dyv.shape[1 + a]! - 1) + [kh, kw][a]! - p[a]! - p[a + 2]!));
    const attrs: Record<string, Attr> = { kernel_shape: Is([kh, kw]), strides: Is(s), pads: Is(p) };
    if (extra.some((e) => e !== 0)) attrs.output_padding = Is(extra);
    return inNchw(ctx, 'dy', (x, info) => g.op('ConvTranspose', [x, w], attrs, info));
  }),
  AvgPool: pool('AveragePool'),
  MaxPool: pool('MaxPool'),
  ResizeBilinear: resize('linear'),
  ResizeNearestNeighbor: resize('nearest'),
  DepthToSpace: single((ctx) => {
    const bs = ctx.attr<number>('blockSize');
    if (ctx.attr('dataFormat') === 'NCHW') return ctx.g.op('DepthToSpace', [ctx.input('x')], { blocksize: I(bs), mode: S('DCR') }, ctx.outInfo());
    return inNchw(ctx, 'x', (x, info) => ctx.g.op('DepthToSpace', [x], { blocksize: I(bs), mode: S('DCR') }, info));
  }),
  FusedBatchNorm: single((ctx) => {
    const { g } = ctx;
    const eps = ctx.attr<number>('varianceEpsilon') ?? 0.001;
    const bn = batchNormalization(ctx, eps);
    if (bn) return bn;
    // (x - mean) * scale / sqrt(var + eps) + offset, broadcast as tfjs does (over the last axes)
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [ctx.input('variance'), g.scalarFloat(eps)])])]);
    let y = g.op('Mul', [g.op('Sub', [ctx.input('x'), ctx.input('mean')]), inv]);
    if (ctx.hasInput('scale')) y = g.op('Mul', [y, ctx.input('scale')]);
    if (ctx.hasInput('offset')) y = g.op('Add', [y, ctx.input('offset')]);
    ctx.g.info.set(y, ctx.outInfo());
    return y;
  }),
  OneHot: single((ctx) => {
    const { g } = ctx;
    const depth = ctx.attr<number>('depth');
    const values = g.constant(floatTensor([ctx.attr<number>('offValue') ?? 0, ctx.attr<number>('onValue') ?? 1], [2]));
    let y = g.op('OneHot', [ctx.input('indices'), g.ints([depth]), values], { axis: I(-1) });
    if (ctx.attr('dtype') !== 'float32') y = castTo(ctx, y, ctx.attr('dtype'));
    g.info.set(y, ctx.outInfo());
    return y;
  }),
};

/**
 * FusedBatchNorm over the channel (last) axis with per-channel statistics as ONNX BatchNormalization (which
 * normalizes axis 1): on the held value when its channels are O's axis 1 (NCHW maps, (N, C) rows), else
 * on the NCHW form of a map. Null for other shapes.
 */
function batchNormalization(ctx: MapContext, eps: number): string | null {
  const { g } = ctx;
  const h = ctx.held('x');
  const rank = h.t[0]!.length;
  const c = h.t[0]![rank - 1]!;
  const perChannel = (n: string) => !ctx.hasInput(n) || (ctx.inputValue(n).shape.length === 1 && ctx.inputValue(n).shape[0] === c);
  if (!['mean', 'variance', 'scale', 'offset'].every(perChannel)) return null;
  const onAxis1 = !isPlain(h) || rank === 2 ? axisInO(h, rank - 1) === 1 && h.o[0]!.length >= 2 : false;
  if (!onAxis1 && rank !== 4) return null;
  const param = (n: string, fill: number) => (ctx.hasInput(n) ? ctx.input(n) : g.constant(floatTensor(new Array(c).fill(fill), [c])));
  const ins = (x: string) => [x, param('scale', 1), param('offset', 0), ctx.input('mean'), ctx.input('variance')];
  if (onAxis1) {
    const y = g.op('BatchNormalization', ins(h.name), { epsilon: F(eps) }, ctx.info('float32', h.o));
    ctx.setHeld(0, { ...h, name: y, t: ctx.outShapes(), data: undefined });
    return y;
  }
  return inNchw(ctx, 'x', (x, info) => g.op('BatchNormalization', ins(x), { epsilon: F(eps) }, info));
}

function constValue(ctx: MapContext, v: number) {
  const dt = onnxDType(ctx.node.outputs[0]!.dtype);
  const raw =
    dt === ElemType.FLOAT ? new Uint8Array(Float32Array.from([v]).buffer) : dt === ElemType.INT64 ? new Uint8Array(BigInt64Array.from([BigInt(v)]).buffer) : Uint8Array.from([v ? 1 : 0]);
  return { dtype: dt, dims: [1], raw };
}

export const MAPPED_KERNELS = Object.keys(KERNEL_MAPPINGS);
