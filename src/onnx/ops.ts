/**
 * tfjs kernels -> standard ONNX ops (opset 17, default domain only). Each mapping receives the recorded
 * kernel call (inputs, attrs, traced output shapes) and emits equivalent ONNX nodes. tfjs computes NHWC
 * with HWIO filters; ONNX convolutions and pools are NCHW / OIHW, so they are wrapped in transposes that
 * the graph clean-up cancels between consecutive convs. tfjs int32 tensors are int64 in the graph.
 */
import { slice_util } from '@tensorflow/tfjs-core';
import { type Attr, F, type GValueInfo, type GraphBuilder, I, Is, S, ElemType, type ElemTypeId, floatTensor } from './graph.js';
import type { TNode, TValue } from './trace.js';

export interface MapContext {
  g: GraphBuilder;
  node: TNode;
  /** The same kernel call in the second trace (dynamic batch), else undefined. */
  alt?: TNode;
  /** ONNX name of the input called `name` (or at position `name` when a number). */
  input(name: string | number): string;
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

const NHWC_TO_NCHW = [0, 3, 1, 2];
const NCHW_TO_NHWC = [0, 2, 3, 1];

function single(f: (ctx: MapContext) => string): KernelMapping {
  return (ctx) => [f(ctx)];
}

function unary(op: string, attrs: (ctx: MapContext) => Record<string, Attr> = () => ({})): KernelMapping {
  return single((ctx) => ctx.g.op(op, [ctx.input(0)], attrs(ctx), ctx.outInfo()));
}

function binary(op: string): KernelMapping {
  return single((ctx) => ctx.g.op(op, [ctx.input(0), ctx.input(1)], {}, ctx.outInfo()));
}

/** Applies `fn` in NCHW to an NHWC tensor (transposes around it). */
function inNchw(ctx: MapContext, x: string, fn: (xNchw: string) => string): string {
  const t = ctx.g.op('Transpose', [x], { perm: Is(NHWC_TO_NCHW) });
  return ctx.g.op('Transpose', [fn(t)], { perm: Is(NCHW_TO_NHWC) }, ctx.outInfo());
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
    const t = g.op('Transpose', [ctx.input('filter')], { perm: Is([2, 3, 0, 1]) });
    w = g.op('Reshape', [t, g.ints([cin * cout, 1, kh, kw])], {}, { dtype: ElemType.FLOAT, shape: [cin * cout, 1, kh, kw] });
    group = cin;
  } else {
    const cinX = nchw ? xv.shape[1]! : xv.shape[3]!;
    w = g.op('Transpose', [ctx.input('filter')], { perm: Is([3, 2, 0, 1]) }, { dtype: ElemType.FLOAT, shape: [cout, cin, kh, kw] });
    group = cinX / cin;
  }
  const attrs = { kernel_shape: Is([kh, kw]), strides: Is(strides), dilations: Is(dil), pads: Is(pads), group: I(group) };
  const convNchw = (x: string) => g.op('Conv', [x, w], attrs);
  let y = nchw ? g.op('Conv', [ctx.input('x'), w], attrs, ctx.outInfo()) : inNchw(ctx, ctx.input('x'), convNchw);
  y = fusedTail(ctx, y, nchw ? [1, -1, 1, 1] : null);
  return y;
}

/** Bias and activation of the fused kernels (_FusedMatMul, FusedConv2D, FusedDepthwiseConv2D). */
function fusedTail(ctx: MapContext, y: string, biasShapeNchw: number[] | null): string {
  const { g } = ctx;
  if (ctx.hasInput('bias')) {
    let b = ctx.input('bias');
    if (biasShapeNchw && ctx.inputValue('bias').shape.length === 1) b = g.op('Reshape', [b, g.ints(biasShapeNchw)]);
    y = g.op('Add', [y, b], {}, ctx.outInfo());
  }
  const act = (ctx.attr<string>('activation') ?? 'linear') as string;
  return activation(ctx, y, act, ctx.hasInput('preluActivationWeights') ? ctx.input('preluActivationWeights') : undefined, ctx.attr<number>('leakyreluAlpha'));
}

function activation(ctx: MapContext, y: string, act: string, preluWeights?: string, alpha?: number): string {
  const { g } = ctx;
  const info = ctx.outInfo();
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
    return inNchw(ctx, ctx.input('x'), (x) => ctx.g.op(op, [x], attrs));
  });
}

function reduce(op: string, opts: { bool?: boolean } = {}): KernelMapping {
  return single((ctx) => {
    const { g } = ctx;
    const xv = ctx.inputValue(0);
    // Max names its axes 'reductionIndices'; the other reductions 'axis'.
    const axes = normAxes(ctx.node.attrs.axis !== undefined ? ctx.attr('axis') : ctx.attr('reductionIndices'), xv.shape.length);
    const keep = ctx.attr<boolean>('keepDims') ? 1 : 0;
    if (axes.length === 0) return g.op('Identity', [ctx.input(0)], {}, ctx.outInfo());
    let x = ctx.input(0);
    if (opts.bool) x = g.op('Cast', [x], { to: I(ElemType.INT64) });
    let y = op === 'ReduceSum' ? g.op(op, [x, g.ints(axes)], { keepdims: I(keep) }) : g.op(op, [x], { axes: Is(axes), keepdims: I(keep) });
    if (opts.bool) y = g.op('Cast', [y], { to: I(ElemType.BOOL) });
    g.info.set(y, ctx.outInfo());
    return y;
  });
}

function transposeLast2(ctx: MapContext, x: string, rank: number): string {
  const perm = Array.from({ length: rank }, (_, i) => i);
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1]!, perm[rank - 2]!];
  return ctx.g.op('Transpose', [x], { perm: Is(perm) });
}

function matmul(ctx: MapContext): string {
  const { g } = ctx;
  const av = ctx.inputValue('a');
  const bv = ctx.inputValue('b');
  let a = ctx.input('a');
  let b = ctx.input('b');
  if (ctx.attr('transposeA')) a = transposeLast2(ctx, a, av.shape.length);
  if (ctx.attr('transposeB')) b = transposeLast2(ctx, b, bv.shape.length);
  return g.op('MatMul', [a, b], {}, ctx.outInfo());
}

/** A Reshape whose target comes from the kernel's recorded output shape (dynamic dims computed). */
function reshapeTo(ctx: MapContext, x: string, attrName: string, target: number[], altTarget?: number[]): string {
  ctx.handled(attrName);
  return ctx.g.op('Reshape', [x, ctx.shapeInts(attrName, target, altTarget)], {}, ctx.outInfo());
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
    return inNchw(ctx, ctx.input('images'), (x) => {
      const lead = g.op('Slice', [g.op('Shape', [x]), g.ints([0]), g.ints([2])]);
      const sizes = g.op('Concat', [lead, g.ints([oh!, ow!])], { axis: I(0) });
      return g.op('Resize', [x, '', '', sizes], attrs);
    });
  });
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
  return g.op('Slice', [ctx.input('x'), starts, endT, g.ints(Array.from({ length: rank }, (_, i) => i))], {}, ctx.outInfo());
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
  const p = ctx.attr<number[][]>('paddings');
  const pads = [...p.map((q) => q[0]!), ...p.map((q) => q[1]!)];
  const inputs = [ctx.input('x'), g.ints(pads)];
  if (mode === 'constant') inputs.push(g.scalarFloat(ctx.attr<number>('constantValue') ?? 0));
  return g.op('Pad', inputs, { mode: S(mode) }, ctx.outInfo());
}

function castTo(ctx: MapContext, x: string, tfDtype: string): string {
  return ctx.g.op('Cast', [x], { to: I(onnxDType(tfDtype)) });
}

/** The mapping table: every tfjs kernel vizoo models may run, by kernel name. */
export const KERNEL_MAPPINGS: Record<string, KernelMapping> = {
  Identity: unary('Identity'),
  Cast: single((ctx) => {
    const v = ctx.inputValue('x');
    const to = ctx.attr<string>('dtype');
    if (v.dtype === 'float32' && to === 'int32') {
      // tfjs truncates toward zero, as ONNX Cast does.
      return ctx.g.op('Cast', [ctx.input('x')], { to: I(ElemType.INT64) }, ctx.outInfo());
    }
    return ctx.g.op('Cast', [ctx.input('x')], { to: I(onnxDType(to)) }, ctx.outInfo());
  }),
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
  NotEqual: single((ctx) => ctx.g.op('Not', [ctx.g.op('Equal', [ctx.input(0), ctx.input(1)])], {}, ctx.outInfo())),
  SquaredDifference: single((ctx) => {
    const d = ctx.g.op('Sub', [ctx.input(0), ctx.input(1)]);
    return ctx.g.op('Mul', [d, d], {}, ctx.outInfo());
  }),
  FloorDiv: single((ctx) => {
    const { g } = ctx;
    const v = ctx.inputValue(0);
    if (v.dtype === 'float32') return g.op('Floor', [g.op('Div', [ctx.input(0), ctx.input(1)])], {}, ctx.outInfo());
    const f = (x: string) => g.op('Cast', [x], { to: I(ElemType.DOUBLE) });
    const q = g.op('Floor', [g.op('Div', [f(ctx.input(0)), f(ctx.input(1))])]);
    return g.op('Cast', [q], { to: I(ElemType.INT64) }, ctx.outInfo());
  }),
  Mod: single((ctx) => {
    const { g } = ctx;
    if (ctx.inputValue(0).dtype !== 'float32') return g.op('Mod', [ctx.input(0), ctx.input(1)], { fmod: I(0) }, ctx.outInfo());
    // floor-mod (sign of the divisor), as tfjs: a - floor(a / b) * b
    const q = g.op('Floor', [g.op('Div', [ctx.input(0), ctx.input(1)])]);
    return g.op('Sub', [ctx.input(0), g.op('Mul', [q, ctx.input(1)])], {}, ctx.outInfo());
  }),
  Atan2: single(() => {
    throw new Error('ONNX export: Atan2 has no ONNX equivalent in opset 17');
  }),
  Abs: unary('Abs'),
  Neg: unary('Neg'),
  Exp: unary('Exp'),
  Log: unary('Log'),
  Sqrt: unary('Sqrt'),
  Rsqrt: single((ctx) => ctx.g.op('Reciprocal', [ctx.g.op('Sqrt', [ctx.input(0)])], {}, ctx.outInfo())),
  Reciprocal: unary('Reciprocal'),
  Square: single((ctx) => ctx.g.op('Mul', [ctx.input(0), ctx.input(0)], {}, ctx.outInfo())),
  Sigmoid: unary('Sigmoid'),
  Tanh: unary('Tanh'),
  Erf: unary('Erf'),
  Relu: unary('Relu'),
  Relu6: single((ctx) => ctx.g.op('Clip', [ctx.input(0), ctx.g.scalarFloat(0), ctx.g.scalarFloat(6)], {}, ctx.outInfo())),
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
  Expm1: single((ctx) => ctx.g.op('Sub', [ctx.g.op('Exp', [ctx.input(0)]), ctx.g.scalarFloat(1)], {}, ctx.outInfo())),
  Log1p: single((ctx) => ctx.g.op('Log', [ctx.g.op('Add', [ctx.input(0), ctx.g.scalarFloat(1)])], {}, ctx.outInfo())),
  Step: single((ctx) => {
    const { g } = ctx;
    const pos = g.op('Greater', [ctx.input(0), g.scalarFloat(0)]);
    return g.op('Where', [pos, g.scalarFloat(1), g.scalarFloat(ctx.attr<number>('alpha') ?? 0)], {}, ctx.outInfo());
  }),
  ClipByValue: single((ctx) => ctx.g.op('Clip', [ctx.input(0), ctx.g.scalarFloat(ctx.attr('clipValueMin')), ctx.g.scalarFloat(ctx.attr('clipValueMax'))], {}, ctx.outInfo())),
  Select: single((ctx) => ctx.g.op('Where', [ctx.input('condition'), ctx.input('t'), ctx.input('e')], {}, ctx.outInfo())),
  ZerosLike: single((ctx) => ctx.g.op('ConstantOfShape', [ctx.g.op('Shape', [ctx.input(0)])], { value: { t: constValue(ctx, 0) } }, ctx.outInfo())),
  OnesLike: single((ctx) => ctx.g.op('ConstantOfShape', [ctx.g.op('Shape', [ctx.input(0)])], { value: { t: constValue(ctx, 1) } }, ctx.outInfo())),

  Reshape: single((ctx) => {
    const target = ctx.attr<number[]>('shape');
    const alt = ctx.alt?.attrs.shape as number[] | undefined;
    // Batch-dependent entries: one becomes -1; several are computed from the batch size.
    if (alt && target.some((d, i) => d !== alt[i])) {
      const diff = target.map((d, i) => d !== alt[i]);
      if (diff.filter(Boolean).length === 1 && !target.includes(-1)) return reshapeTo(ctx, ctx.input('x'), 'shape', target.map((d, i) => (diff[i] ? -1 : d)));
      return reshapeTo(ctx, ctx.input('x'), 'shape', target, alt);
    }
    return reshapeTo(ctx, ctx.input('x'), 'shape', target);
  }),
  Transpose: single((ctx) => ctx.g.op('Transpose', [ctx.input('x')], { perm: Is(ctx.attr<number[]>('perm')) }, ctx.outInfo())),
  ExpandDims: single((ctx) => {
    const rank = ctx.inputValue(0).shape.length;
    let d = ctx.attr<number>('dim');
    if (d < 0) d += rank + 1;
    return ctx.g.op('Unsqueeze', [ctx.input(0), ctx.g.ints([d])], {}, ctx.outInfo());
  }),
  Squeeze: single((ctx) => {
    const v = ctx.inputValue(0);
    let axes = ctx.attr<number[]>('axis');
    axes = axes && axes.length ? axes.map((a) => (a < 0 ? a + v.shape.length : a)) : v.shape.flatMap((d, i) => (d === 1 ? [i] : []));
    return ctx.g.op('Squeeze', [ctx.input(0), ctx.g.ints(axes)], {}, ctx.outInfo());
  }),
  Concat: single((ctx) => {
    const n = ctx.inputCount();
    const rank = ctx.inputValue(0).shape.length;
    let axis = ctx.attr<number>('axis');
    if (axis < 0) axis += rank;
    const inputs = Array.from({ length: n }, (_, i) => i).filter((i) => ctx.inputValue(i).shape[axis] !== 0).map((i) => ctx.input(i));
    if (inputs.length === 1) return ctx.g.op('Identity', inputs, {}, ctx.outInfo());
    return ctx.g.op('Concat', inputs, { axis: I(axis) }, ctx.outInfo());
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
    const parts = ctx.g.node('Split', [ctx.input('value'), ctx.g.ints(new Array(n).fill(1))], { axis: I(axis) }, n);
    return parts.map((p, i) => ctx.g.op('Squeeze', [p, ctx.g.ints([axis])], {}, ctx.outInfo(i)));
  },
  SplitV: (ctx) => {
    const v = ctx.inputValue('x');
    let axis = ctx.attr<number>('axis');
    if (axis < 0) axis += v.shape.length;
    const sizes = ctx.node.outputs.map((o) => o.shape[axis]!);
    const outs = ctx.g.node('Split', [ctx.input('x'), ctx.g.ints(sizes)], { axis: I(axis) }, sizes.length);
    outs.forEach((o, i) => ctx.g.info.set(o, ctx.outInfo(i)));
    ctx.handled('numOrSizeSplits');
    return outs;
  },
  Slice: single(slice),
  StridedSlice: single(stridedSlice),
  Reverse: single((ctx) => {
    const v = ctx.inputValue('x');
    const dims = normAxes(ctx.attr('dims'), v.shape.length);
    const n = dims.length;
    return ctx.g.op('Slice', [ctx.input('x'), ctx.g.ints(new Array(n).fill(-1)), ctx.g.ints(new Array(n).fill(-INT64_MAX)), ctx.g.ints(dims), ctx.g.ints(new Array(n).fill(-1))], {}, ctx.outInfo());
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
  ArgMax: single((ctx) => {
    const rank = ctx.inputValue(0).shape.length;
    const [axis] = normAxes(ctx.attr('axis'), rank);
    return ctx.g.op('ArgMax', [ctx.input(0)], { axis: I(axis!), keepdims: I(0) }, ctx.outInfo());
  }),
  ArgMin: single((ctx) => {
    const rank = ctx.inputValue(0).shape.length;
    const [axis] = normAxes(ctx.attr('axis'), rank);
    return ctx.g.op('ArgMin', [ctx.input(0)], { axis: I(axis!), keepdims: I(0) }, ctx.outInfo());
  }),
  Softmax: single((ctx) => {
    const rank = ctx.inputValue(0).shape.length;
    const dim = ctx.attr<number>('dim') ?? -1;
    return ctx.g.op('Softmax', [ctx.input(0)], { axis: I(dim < 0 ? dim + rank : dim) }, ctx.outInfo());
  }),
  LogSoftmax: single((ctx) => ctx.g.op('LogSoftmax', [ctx.input(0)], { axis: I(-1) }, ctx.outInfo())),
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

  BatchMatMul: single(matmul),
  _FusedMatMul: single((ctx) => fusedTail(ctx, matmul(ctx), null)),
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
    const w = g.op('Transpose', [ctx.input('filter')], { perm: Is([3, 2, 0, 1]) });
    // output = s*(in-1) + output_padding + k - pad_begin - pad_end
    const extra = [0, 1].map((a) => out.shape[1 + a]! - (s[a]! * (dyv.shape[1 + a]! - 1) + [kh, kw][a]! - p[a]! - p[a + 2]!));
    const attrs: Record<string, Attr> = { kernel_shape: Is([kh, kw]), strides: Is(s), pads: Is(p) };
    if (extra.some((e) => e !== 0)) attrs.output_padding = Is(extra);
    return inNchw(ctx, ctx.input('dy'), (x) => g.op('ConvTranspose', [x, w], attrs));
  }),
  AvgPool: pool('AveragePool'),
  MaxPool: pool('MaxPool'),
  ResizeBilinear: resize('linear'),
  ResizeNearestNeighbor: resize('nearest'),
  DepthToSpace: single((ctx) => {
    const bs = ctx.attr<number>('blockSize');
    if (ctx.attr('dataFormat') === 'NCHW') return ctx.g.op('DepthToSpace', [ctx.input('x')], { blocksize: I(bs), mode: S('DCR') }, ctx.outInfo());
    return inNchw(ctx, ctx.input('x'), (x) => ctx.g.op('DepthToSpace', [x], { blocksize: I(bs), mode: S('DCR') }));
  }),
  FusedBatchNorm: single((ctx) => {
    // (x - mean) * scale / sqrt(var + eps) + offset, broadcast as tfjs does (over the last axes)
    const { g } = ctx;
    const eps = ctx.attr<number>('varianceEpsilon') ?? 0.001;
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

function constValue(ctx: MapContext, v: number) {
  const dt = onnxDType(ctx.node.outputs[0]!.dtype);
  const raw =
    dt === ElemType.FLOAT ? new Uint8Array(Float32Array.from([v]).buffer) : dt === ElemType.INT64 ? new Uint8Array(BigInt64Array.from([BigInt(v)]).buffer) : Uint8Array.from([v ? 1 : 0]);
  return { dtype: dt, dims: [1], raw };
}

export const MAPPED_KERNELS = Object.keys(KERNEL_MAPPINGS);
