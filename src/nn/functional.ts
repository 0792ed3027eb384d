/**
 * Stateless ops in NHWC with PyTorch semantics (explicit symmetric padding, count_include_pad pooling,
 * PyTorch adaptive-pool bins, exact-erf GELU), built on tfjs-core.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { ADD_RELU, GELU_ERF, GELU_TANH, LAYER_NORM, SCALED_ADD, addReluFused, geluFused, geluTanhFused, inferenceShortcut, layerNormFused, scaledAddFused } from '../kernels/inference.js';
import { depthwiseConvSimd } from '../kernels/depthwise_simd.js';

export type Pair = [number, number];

export function pair(v: number | readonly number[]): Pair {
  return typeof v === 'number' ? [v, v] : [v[0]!, v[1] ?? v[0]!];
}

/** Zero-pads NHWC H and W at the bottom/right up to multiples of (ph, pw) (Swin-style padding); x itself when they divide. */
export function padToMultiple(x: Tensor, ph: number, pw: number): Tensor {
  const [, h, w] = x.shape as number[];
  const extraH = (ph - (h! % ph)) % ph;
  const extraW = (pw - (w! % pw)) % pw;
  return extraH || extraW ? tf.pad(x, [[0, 0], [0, extraH], [0, extraW], [0, 0]]) : x;
}

export interface ConvOptions {
  stride?: number | Pair;
  /** Symmetric zero padding per axis (never TF "SAME"). */
  padding?: number | Pair;
  dilation?: number | Pair;
  groups?: number;
  /**
   * Per-output-channel bias, added by the conv kernel itself (one fused kernel instead of conv + add). Only
   * outside gradient recording: tfjs's fused conv gradient refuses dilation, so training adds it apart.
   */
  bias?: Tensor;
  /**
   * Activation applied to the result: inside the fused conv kernel on cpu and wasm when the bias is fused
   * (no gradient being recorded), else as its own op.
   */
  activation?: ConvActivation;
}

export type ConvActivation = 'relu' | 'sigmoid';

/** The activation the conv kernel may take itself (with a fused bias, on the inference path). */
function fusedActivation(opts: ConvOptions, bias: Tensor | undefined): ConvActivation | undefined {
  return bias && opts.activation && inferenceShortcut() ? opts.activation : undefined;
}

/** `opts.activation` on a conv result whose kernel did not apply it. */
function activate(y: Tensor4D, opts: ConvOptions, fused: ConvActivation | undefined): Tensor4D {
  if (!opts.activation || fused) return y;
  return (opts.activation === 'relu' ? tf.relu(y) : tf.sigmoid(y)) as Tensor4D;
}

/** The fused kernel's bias when it may be used here (no gradient being recorded). */
function fusedBias(opts: ConvOptions): Tensor | undefined {
  return opts.bias && (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth === 0 ? opts.bias : undefined;
}

/** Adds `opts.bias` to a conv result that did not fuse it. */
function addBias(y: Tensor4D, opts: ConvOptions, fused: Tensor | undefined): Tensor4D {
  return opts.bias && !fused ? (tf.add(y, opts.bias) as Tensor4D) : y;
}

/**
 * Rows start, start+s, ... (count of them) of axes 1 and 2: a differentiable strided slice (tfjs has no
 * StridedSlice gradient), by padding to a multiple of the stride, folding the stride into its own axis and
 * keeping index 0 of it. The fold stays rank 4, (b nh, sh, nw, sw c), taking the first c of the last axis:
 * tfjs-wasm slices rank <= 4 natively and higher ranks element by element (~1 us per element).
 */
export function stridedWindow(x: Tensor4D, start: Pair, stride: Pair, count: Pair): Tensor4D {
  const [b, , , c] = x.shape;
  const [sh, sw] = stride;
  const [nh, nw] = count;
  return tf.tidy(() => {
    let y = tf.slice(x, [0, start[0], start[1], 0], [b, Math.min(x.shape[1] - start[0], nh * sh), Math.min(x.shape[2] - start[1], nw * sw), c]);
    if (sh === 1 && sw === 1) return y as Tensor4D;
    y = tf.pad(y, [[0, 0], [0, nh * sh - y.shape[1]!], [0, nw * sw - y.shape[2]!], [0, 0]]);
    const folded = tf.reshape(y, [b * nh, sh, nw, sw * c]);
    return tf.reshape(tf.slice(folded, [0, 0, 0, 0], [b * nh, 1, nw, c]), [b, nh, nw, c]) as Tensor4D;
  });
}

/** Every s-th row/column, for convs that are both strided and dilated (tfjs allows only one of the two). */
function subsample(y: Tensor4D, [sh, sw]: Pair): Tensor4D {
  if (sh === 1 && sw === 1) return y;
  return stridedWindow(y, [0, 0], [sh, sw], [Math.ceil(y.shape[1] / sh), Math.ceil(y.shape[2] / sw)]);
}

function explicitPad([ph, pw]: Pair): [[number, number], [number, number], [number, number], [number, number]] {
  return [[0, 0], [ph, ph], [pw, pw], [0, 0]];
}

/**
 * The range [first, last] of kernel taps (along one axis) that can read at least one real input element;
 * taps outside it only ever multiply zero padding. Large or dilated kernels on small maps (LKA's 7x7 dilation 3
 * on a 7x7 map, 13x13 kernels on 7x7 maps) then run as smaller convs with less padding: same output, and
 * the weight slice's gradient gives the unused taps exact zeros.
 */
export function usefulTaps(k: number, dilation: number, stride: number, padBefore: number, inLen: number, outLen: number): Pair {
  let first = 0;
  let last = k - 1;
  // Tap i reads rows lo + y*stride (lo = i*dilation - padBefore) for y in [0, outLen): does one land in [0, inLen)?
  const reaches = (i: number) => {
    const lo = i * dilation - padBefore;
    const y = lo >= 0 ? 0 : Math.ceil(-lo / stride);
    return y <= outLen - 1 && lo + y * stride <= inLen - 1;
  };
  while (first < last && !reaches(first)) first++;
  while (last > first && !reaches(last)) last--;
  return [first, last];
}

function convOutLen(inLen: number, k: number, s: number, p: number, d: number): number {
  return Math.floor((inLen + 2 * p - d * (k - 1) - 1) / s) + 1;
}

/** Filter, explicit padding and dilation after dropping taps that only see padding (see usefulTaps). */
function trimFilter(x: Tensor4D, w: Tensor4D, stride: Pair, pad: Pair, dilation: Pair): { w: Tensor4D; pads: [[number, number], [number, number], [number, number], [number, number]]; dilation: Pair } {
  const [kh, kw] = w.shape;
  const out = [convOutLen(x.shape[1], kh, stride[0], pad[0], dilation[0]), convOutLen(x.shape[2], kw, stride[1], pad[1], dilation[1])];
  const [h0, h1] = usefulTaps(kh, dilation[0], stride[0], pad[0], x.shape[1], out[0]!);
  const [w0, w1] = usefulTaps(kw, dilation[1], stride[1], pad[1], x.shape[2], out[1]!);
  const top = pad[0] - h0 * dilation[0];
  const bottom = pad[0] - (kh - 1 - h1) * dilation[0];
  const left = pad[1] - w0 * dilation[1];
  const right = pad[1] - (kw - 1 - w1) * dilation[1];
  const full = { w, pads: explicitPad(pad), dilation };
  if ((h0 === 0 && h1 === kh - 1 && w0 === 0 && w1 === kw - 1) || top < 0 || bottom < 0 || left < 0 || right < 0) return full;
  const sliced = tf.slice(w, [h0, w0, 0, 0], [h1 - h0 + 1, w1 - w0 + 1, -1, -1]) as Tensor4D;
  const dil: Pair = [h1 === h0 ? 1 : dilation[0], w1 === w0 ? 1 : dilation[1]];
  return { w: sliced, pads: [[0, 0], [top, bottom], [left, right], [0, 0]], dilation: dil };
}

/**
 * PyTorch Conv2d on NHWC input with an HWIO filter (kh, kw, in/groups, out). Grouped convolution runs
 * one conv per group; use `depthwiseConv2d` when groups == in channels.
 */
export function conv2d(x: Tensor4D, w: Tensor4D, opts: ConvOptions = {}): Tensor4D {
  const stride = pair(opts.stride ?? 1);
  const groups = opts.groups ?? 1;
  return tf.tidy(() => {
    const t = trimFilter(x, w, stride, pair(opts.padding ?? 0), pair(opts.dilation ?? 1));
    const both = (stride[0] > 1 || stride[1] > 1) && (t.dilation[0] > 1 || t.dilation[1] > 1);
    const s: Pair = both ? [1, 1] : stride;
    if (groups === 1) {
      const bias = fusedBias(opts);
      const act = fusedActivation(opts, bias);
      const y = bias ? tf.fused.conv2d({ x, filter: t.w, strides: s, pad: t.pads, dilations: t.dilation, bias, activation: act ?? 'linear' }) : tf.conv2d(x, t.w, s, t.pads, 'NHWC', t.dilation);
      return activate(addBias(subsample(y, both ? stride : [1, 1]), opts, bias), opts, act);
    }
    const inG = t.w.shape[2];
    const outG = t.w.shape[3] / groups;
    const xs = tf.split(x, groups, 3) as Tensor4D[];
    const ys = xs.map((xg, g) => {
      const wg = tf.slice(t.w, [0, 0, 0, g * outG], [-1, -1, inG, outG]) as Tensor4D;
      return tf.conv2d(xg, wg, s, t.pads, 'NHWC', t.dilation);
    });
    return activate(addBias(subsample(tf.concat(ys, 3), both ? stride : [1, 1]), opts, undefined), opts, undefined);
  });
}

/** Depthwise conv (PyTorch groups == in channels) with a (kh, kw, C, multiplier) filter. */
export function depthwiseConv2d(x: Tensor4D, w: Tensor4D, opts: ConvOptions = {}): Tensor4D {
  const stride = pair(opts.stride ?? 1);
  if (opts.activation !== 'sigmoid') {
    const bias = fusedBias(opts);
    const y = depthwiseConvSimd(x, w, { stride, dilation: pair(opts.dilation ?? 1), padding: pair(opts.padding ?? 0), bias, relu: opts.activation === 'relu' });
    if (y) return addBias(y as Tensor4D, opts, bias);
  }
  return tf.tidy(() => {
    const t = trimFilter(x, w, stride, pair(opts.padding ?? 0), pair(opts.dilation ?? 1));
    const both = (stride[0] > 1 || stride[1] > 1) && (t.dilation[0] > 1 || t.dilation[1] > 1);
    const s: Pair = both ? [1, 1] : stride;
    // tfjs's fused depthwise conv takes one padding for all four sides.
    const [, [top, bottom], [left, right]] = t.pads;
    const uniform = top === bottom && left === right && top === left;
    const bias = uniform ? fusedBias(opts) : undefined;
    const act = fusedActivation(opts, bias);
    const y = bias ? tf.fused.depthwiseConv2d({ x, filter: t.w, strides: s, pad: top, dilations: t.dilation, bias, activation: act ?? 'linear' }) : tf.depthwiseConv2d(x, t.w, s, t.pads, 'NHWC', t.dilation);
    return activate(addBias(subsample(y, both ? stride : [1, 1]), opts, bias), opts, act);
  });
}

const SQRT1_2 = Math.SQRT1_2;

/** GELU, exact erf form (nn.GELU default): 0.5 x (1 + erf(x / sqrt 2)). */
export function gelu(x: Tensor): Tensor {
  return x.dtype === 'float32' && inferenceShortcut(GELU_ERF) ? geluFused(x) : geluWithGrad(x);
}

/**
 * GELU with its derivative written out, d/dx = Phi(x) + x phi(x): the backward pass keeps only x, where
 * the composite's own gradients would keep x, x/sqrt(2) and 1 + erf(x/sqrt(2)), three maps of the MLP's
 * widest width.
 */
const geluWithGrad = tf.customGrad(((x: Tensor, save: tf.GradSaveFunc) => {
  save([x]);
  return {
    value: tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, SQRT1_2)), 1))),
    gradFunc: (dy: Tensor, [s]: Tensor[]) =>
      tf.tidy(() => {
        const cdf = tf.mul(tf.add(tf.erf(tf.mul(s!, SQRT1_2)), 1), 0.5);
        const pdf = tf.mul(tf.exp(tf.mul(tf.square(s!), -0.5)), 1 / Math.sqrt(2 * Math.PI));
        return tf.mul(dy, tf.add(cdf, tf.mul(s!, pdf)));
      }),
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: Tensor) => Tensor;

/** GELU, tanh approximation (nn.GELU(approximate='tanh')). */
export function geluTanh(x: Tensor): Tensor {
  if (x.dtype === 'float32' && inferenceShortcut(GELU_TANH)) return geluTanhFused(x);
  return tf.tidy(() => {
    const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}

/** relu(a + b): a residual sum and its ReLU (one kernel on the inference path when the shapes match). */
export function addRelu(a: Tensor, b: Tensor): Tensor {
  if (sameFloatShapes(a, b) && inferenceShortcut(ADD_RELU)) return addReluFused(a, b);
  return tf.tidy(() => tf.relu(tf.add(a, b)));
}

/**
 * x + scale * y with `scale` one value per channel (last axis, any shape of C values): a layer-scaled
 * residual, one kernel on the inference path when x and y have one shape.
 */
export function addScaled(x: Tensor, scale: Tensor, y: Tensor): Tensor {
  const c = x.shape[x.shape.length - 1];
  if (x.rank > 0 && scale.size === c && sameFloatShapes(x, y) && scale.dtype === 'float32' && inferenceShortcut(SCALED_ADD)) return scaledAddFused(x, scale, y);
  return tf.tidy(() => tf.add(x, tf.mul(scale, y)));
}

function sameFloatShapes(a: Tensor, b: Tensor): boolean {
  return a.dtype === 'float32' && b.dtype === 'float32' && a.rank === b.rank && a.shape.every((d, i) => d === b.shape[i]);
}

/** LayerNorm over the last axis (biased variance, as PyTorch). */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  if (x.dtype === 'float32' && inferenceShortcut(LAYER_NORM)) return layerNormFused(x, weight, bias, eps);
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
    if (weight) y = tf.mul(y, weight);
    if (bias) y = tf.add(y, bias);
    return y;
  });
}

export interface PoolOptions {
  stride?: number | Pair;
  padding?: number | Pair;
  /** PyTorch AvgPool2d default true: zero padding counts in the divisor (always kh*kw). */
  countIncludePad?: boolean;
  ceilMode?: boolean;
}

function poolPadding(x: Tensor4D, k: Pair, s: Pair, p: Pair, ceilMode: boolean): [[number, number], [number, number], [number, number], [number, number]] {
  const extra = (len: number, i: 0 | 1): number => {
    if (!ceilMode) return 0;
    let out = Math.ceil((len + 2 * p[i] - k[i]) / s[i]) + 1;
    // PyTorch: the last window must start inside the input or the left padding.
    if ((out - 1) * s[i] >= len + p[i]) out--;
    return Math.max(0, (out - 1) * s[i] + k[i] - (len + 2 * p[i]));
  };
  return [[0, 0], [p[0], p[0] + extra(x.shape[1], 0)], [p[1], p[1] + extra(x.shape[2], 1)], [0, 0]];
}

/** AvgPool2d with PyTorch semantics (count_include_pad, ceil_mode). */
export function avgPool2d(x: Tensor4D, kernel: number | Pair, opts: PoolOptions = {}): Tensor4D {
  const k = pair(kernel);
  const s = pair(opts.stride ?? kernel);
  const p = pair(opts.padding ?? 0);
  const includePad = opts.countIncludePad ?? true;
  return tf.tidy(() => {
    const pads = poolPadding(x, k, s, p, opts.ceilMode ?? false);
    if (pads.every(([a, b]) => a === 0 && b === 0)) return tf.avgPool(x, k, s, 'valid');
    const [, [, extraH], [, extraW]] = pads;
    // Every window lies within input + padding: each divides by the whole kernel, as a plain pool of the padded map.
    if (includePad && extraH === p[0] && extraW === p[1]) return tf.avgPool(tf.pad(x, pads), k, s, 'valid');
    const sum = tf.mul(tf.avgPool(tf.pad(x, pads), k, s, 'valid'), k[0] * k[1]);
    // Divisor per window: PyTorch counts the window clipped to input + padding (ceil-mode overhang never
    // counts), or only the real input cells when count_include_pad is false.
    const counted = includePad
      ? tf.pad(tf.ones([1, x.shape[1] + 2 * p[0], x.shape[2] + 2 * p[1], 1]), [[0, 0], [0, extraH - p[0]], [0, extraW - p[1]], [0, 0]])
      : tf.pad(tf.ones([1, x.shape[1], x.shape[2], 1]), pads);
    const count = tf.mul(tf.avgPool(counted as Tensor4D, k, s, 'valid'), k[0] * k[1]);
    return tf.div(sum, count) as Tensor4D;
  });
}

/** MaxPool2d with PyTorch semantics (padding with -inf, ceil_mode). */
export function maxPool2d(x: Tensor4D, kernel: number | Pair, opts: Omit<PoolOptions, 'countIncludePad'> = {}): Tensor4D {
  const k = pair(kernel);
  const s = pair(opts.stride ?? kernel);
  const p = pair(opts.padding ?? 0);
  return tf.tidy(() => {
    const pads = poolPadding(x, k, s, p, opts.ceilMode ?? false);
    const xp = pads.every(([a, b]) => a === 0 && b === 0) ? x : tf.pad(x, pads, -3.4e38);
    return tf.maxPool(xp as Tensor4D, k, s, 'valid');
  });
}

/** PyTorch adaptive pooling bins: bin i spans [floor(i*L/n), ceil((i+1)*L/n)); they overlap when n does not divide L. */
export function adaptiveBins(len: number, n: number): Pair[] {
  return Array.from({ length: n }, (_, i) => [Math.floor((i * len) / n), Math.ceil(((i + 1) * len) / n)] as Pair);
}

/** AdaptiveAvgPool2d((oh, ow)) on NHWC. */
export function adaptiveAvgPool2d(x: Tensor4D, size: number | Pair): Tensor4D {
  const [oh, ow] = pair(size);
  const [, h, w] = x.shape;
  return tf.tidy(() => {
    if (oh === 1 && ow === 1) return tf.mean(x, [1, 2], true) as Tensor4D;
    if (h % oh === 0 && w % ow === 0) return tf.avgPool(x, [h / oh, w / ow], [h / oh, w / ow], 'valid');
    const rows = adaptiveBins(h, oh).map(([h0, h1]) => {
      const band = tf.slice(x, [0, h0, 0, 0], [-1, h1 - h0, -1, -1]);
      const cols = adaptiveBins(w, ow).map(([w0, w1]) => tf.mean(tf.slice(band, [0, 0, w0, 0], [-1, -1, w1 - w0, -1]), [1, 2], true));
      return tf.concat(cols, 2);
    });
    return tf.concat(rows, 1) as Tensor4D;
  });
}

/**
 * Bilinear resize of NHWC to (h, w): align_corners=false uses half-pixel centers (F.interpolate default),
 * align_corners=true maps corner to corner.
 */
export function resizeBilinear(x: Tensor4D, size: Pair, alignCorners = false): Tensor4D {
  if (x.shape[1] === size[0] && x.shape[2] === size[1]) return x.clone();
  return tf.image.resizeBilinear(x, size, alignCorners, !alignCorners);
}

/** Nearest resize with PyTorch's 'nearest' rule (src = floor(dst * in / out)). */
export function resizeNearest(x: Tensor4D, size: Pair): Tensor4D {
  if (x.shape[1] === size[0] && x.shape[2] === size[1]) return x.clone();
  return tf.tidy(() => {
    const idx = (len: number, out: number) => tf.tensor1d(Array.from({ length: out }, (_, i) => Math.min(len - 1, Math.floor((i * len) / out))), 'int32');
    return tf.gather(tf.gather(x, idx(x.shape[1], size[0]), 1), idx(x.shape[2], size[1]), 2) as Tensor4D;
  });
}

/** SiLU / swish: x * sigmoid(x). */
export function silu(x: Tensor): Tensor {
  return tf.tidy(() => tf.mul(x, tf.sigmoid(x)));
}

/**
 * log(sigmoid(x)) = -softplus(-x). Not tf.logSigmoid: its gradient reads x from a closure instead of
 * saving it, so it fails once a scope has disposed x before the backward pass.
 */
export function logSigmoid(x: Tensor): Tensor {
  return tf.tidy(() => tf.neg(tf.softplus(tf.neg(x))));
}

/** RMSNorm over the last axis (no mean subtraction, no bias): x / sqrt(mean(x^2) + eps) * weight. */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps: number): Tensor {
  return tf.tidy(() => {
    const y = tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps)));
    return weight ? tf.mul(y, weight) : y;
  });
}

/**
 * The (out x in) matrix of PyTorch's 1-D bicubic interpolation (F.interpolate mode='bicubic', no
 * antialias): Keys' cubic convolution with A = -0.75, 4 taps at floor(src)-1 .. floor(src)+2 with the
 * indices clamped to [0, in-1] (edge replication). align_corners=false samples at
 * src = (i + 0.5) * in / out - 0.5 (not clamped at 0 for cubic); true at src = i * (in - 1) / (out - 1).
 */
export function bicubicMatrix(inLen: number, outLen: number, alignCorners = false): Float32Array {
  const A = -0.75;
  // Keys' kernel: |x| <= 1 and 1 < |x| < 2.
  const near = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
  const far = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;
  const m = new Float32Array(outLen * inLen);
  const scale = alignCorners ? (outLen > 1 ? (inLen - 1) / (outLen - 1) : 0) : inLen / outLen;
  for (let i = 0; i < outLen; i++) {
    const src = alignCorners ? i * scale : (i + 0.5) * scale - 0.5;
    const base = Math.floor(src);
    const t = src - base;
    const w = [far(t + 1), near(t), near(1 - t), far(2 - t)];
    for (let j = 0; j < 4; j++) {
      const idx = Math.min(Math.max(base - 1 + j, 0), inLen - 1);
      m[i * inLen + idx] += w[j]!;
    }
  }
  return m;
}

/**
 * The (out x in) matrix of PyTorch's antialiased bicubic interpolation (F.interpolate mode='bicubic',
 * antialias=True, align_corners=False; what timm's resample_abs_pos_embed uses): Keys' cubic with A = -0.5
 * centred at (i + 0.5) * in / out, stretched by in / out when shrinking, over the taps inside [0, in) only
 * (no edge replication), normalized to sum 1.
 */
export function bicubicAntialiasMatrix(inLen: number, outLen: number): Float32Array {
  const A = -0.5;
  const cubic = (t: number) => {
    const x = Math.abs(t);
    return x < 1 ? ((A + 2) * x - (A + 3)) * x * x + 1 : x < 2 ? ((A * x - 5 * A) * x + 8 * A) * x - 4 * A : 0;
  };
  const scale = inLen / outLen;
  const support = scale >= 1 ? 2 * scale : 2;
  const invScale = scale >= 1 ? 1 / scale : 1;
  const m = new Float32Array(outLen * inLen);
  for (let i = 0; i < outLen; i++) {
    const center = scale * (i + 0.5);
    // PyTorch truncates toward zero (static_cast<int64_t>) before clamping to the input.
    const lo = Math.max(Math.trunc(center - support + 0.5), 0);
    const hi = Math.min(Math.trunc(center + support + 0.5), inLen);
    const w = Array.from({ length: hi - lo }, (_, j) => cubic((lo + j - center + 0.5) * invScale));
    const total = w.reduce((a, b) => a + b, 0);
    w.forEach((v, j) => (m[i * inLen + lo + j] = total !== 0 ? v / total : v));
  }
  return m;
}

/**
 * Bicubic resize of NHWC to (h, w) with PyTorch semantics (see `bicubicMatrix`). Separable: two
 * matmuls with small precomputed matrices, so it runs (and differentiates) on every backend.
 */
export function resizeBicubic(x: Tensor4D, size: Pair, alignCorners = false, antialias = false): Tensor4D {
  const [b, h, w, c] = x.shape;
  const [oh, ow] = size;
  if (h === oh && w === ow) return x.clone();
  if (antialias && alignCorners) throw new Error('resizeBicubic: antialias with align_corners is not supported (as in PyTorch)');
  const matrix = (n: number, m: number) => (antialias ? bicubicAntialiasMatrix(n, m) : bicubicMatrix(n, m, alignCorners));
  return tf.tidy(() => {
    const mh = tf.tensor2d(matrix(h, oh), [oh, h]);
    const mw = tf.tensor2d(matrix(w, ow), [ow, w]);
    // Rows: (h, b*w*c) -> (oh, b, w, c); then columns: (w, b*oh*c) -> (ow, b, oh, c).
    const rows = tf.reshape(tf.matMul(mh, tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, b * w * c])), [oh, b, w, c]);
    const cols = tf.matMul(mw, tf.reshape(tf.transpose(rows, [2, 1, 0, 3]), [w, b * oh * c]));
    return tf.transpose(tf.reshape(cols, [ow, b, oh, c]), [1, 2, 0, 3]) as Tensor4D;
  });
}

/** NCHW <-> NHWC at the edges (fixtures, PyTorch-convention files). */
export const nchwToNhwc = (x: Tensor): Tensor => tf.transpose(x, [0, 2, 3, 1]);
export const nhwcToNchw = (x: Tensor): Tensor => tf.transpose(x, [0, 3, 1, 2]);

/** Identity in the forward pass, zero gradient (torch's `.detach()`), e.g. for scores that only pick indices. */
export function stopGradient(x: Tensor): Tensor {
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => ({ value: tf.clone(args[0] as Tensor), gradFunc: (dy: Tensor) => tf.zerosLike(dy) }));
  return f(x);
}
