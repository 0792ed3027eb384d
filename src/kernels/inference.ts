/**
 * Single-kernel forms of ops that tfjs composes from many kernels, for inference on the cpu and wasm
 * backends: LayerNorm over the last axis (12 kernels as a composite) and exact-erf GELU (5). Each is a JS
 * typed-array loop registered as a tfjs kernel (GELU runs as WebAssembly SIMD on tfjs-wasm's heap, ./simd,
 * where the engine has it: 3.2 ns per element against the loop's 18), kept because it measured at least as fast as the composite
 * on wasm (one-kernel forms of a layer-scaled residual x + s * y and of GRN were 1.1-2.8x slower than tfjs's
 * SIMD kernels on large maps, so those stay composites); run only while no gradient is being recorded; training,
 * other backends and the ONNX tracer's backend (which registers only tfjs's own kernels) take the
 * composite in src/nn/functional.ts. Also here: stock kernels called directly where the tfjs op wraps
 * them in reshapes that do nothing (Linear's matmul, eval batch norm). `setFusedInference(false)` turns
 * all of them off (tests and the bench compare both paths in one process).
 */
import { tf, type Tensor } from '../tf.js';
import { ioFor, type KernelArgs, type TensorInfo } from './js_io.js';
import { simdOn } from './simd/kernels.js';

export const LAYER_NORM = 'VizooLayerNorm';
export const GELU_ERF = 'VizooGeluErf';
export const GELU_TANH = 'VizooGeluTanh';
export const ADD_RELU = 'VizooAddRelu';
export const SCALED_ADD = 'VizooScaledAdd';

let enabled = true;

/** Turns the single-kernel inference paths on or off (default on). */
export function setFusedInference(on: boolean): void {
  enabled = on;
}

export function fusedInferenceEnabled(): boolean {
  return enabled;
}

/** Backends whose stock kernels the inference shortcuts (such as Linear's direct matmul) are tested on. */
const INFERENCE_BACKENDS = new Set(['cpu', 'wasm']);

/**
 * Whether an inference shortcut may run now: enabled, no gradient being recorded, on cpu or wasm, and (when
 * named) the kernel is registered for the current backend.
 */
export function inferenceShortcut(kernel?: string): boolean {
  if (!enabled || tf.engine().state.gradientDepth > 0) return false;
  const backend = tf.getBackend();
  if (!INFERENCE_BACKENDS.has(backend)) return false;
  return kernel === undefined || tf.getKernel(kernel, backend) !== undefined;
}

function size(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Per row: sum and sum of squares in double precision (one pass), then the normalized, scaled row. */
function layerNormKernel({ inputs, backend, attrs }: KernelArgs<{ eps: number }>): TensorInfo {
  const { x, weight, bias } = inputs;
  const c = x!.shape[x!.shape.length - 1]!;
  const io = ioFor(backend);
  const out = io.outputs([x!.shape], false);
  const xs = io.read(x!);
  const w = weight ? io.read(weight) : null;
  const b = bias ? io.read(bias) : null;
  const y = out.views[0]!;
  const rows = size(x!.shape) / c;
  for (let r = 0, off = 0; r < rows; r++, off += c) {
    let sum = 0;
    let sq = 0;
    for (let i = off; i < off + c; i++) {
      const v = xs[i]!;
      sum += v;
      sq += v * v;
    }
    const mean = sum / c;
    const inv = 1 / Math.sqrt(Math.max(sq / c - mean * mean, 0) + attrs.eps);
    if (w && b) for (let i = 0; i < c; i++) y[off + i] = (xs[off + i]! - mean) * inv * w[i]! + b[i]!;
    else if (w) for (let i = 0; i < c; i++) y[off + i] = (xs[off + i]! - mean) * inv * w[i]!;
    else if (b) for (let i = 0; i < c; i++) y[off + i] = (xs[off + i]! - mean) * inv + b[i]!;
    else for (let i = 0; i < c; i++) y[off + i] = (xs[off + i]! - mean) * inv;
  }
  return out.done()[0]!;
}

/**
 * erf on [0, ERF_MAX] as a cubic Hermite interpolant of a table (values and exact derivatives 2/sqrt(pi)
 * e^(-x^2) at steps of 1/ERF_STEPS), built once in double precision: the interpolation error is below 1e-11,
 * far under float32 rounding, at the cost of a few multiplications per element.
 */
const ERF_STEPS = 256;
const ERF_MAX = 6;
/** Per interval i (x in [i, i+1) / ERF_STEPS): the cubic's coefficients in u = frac, at 4i .. 4i+3. */
let erfCubics: Float64Array | null = null;

/** erf(x) for x >= 0 in double: its Maclaurin series up to 3, erfc's continued fraction beyond. */
function erfReference(x: number): number {
  if (x <= 3) {
    // sum over n of (-1)^n x^(2n+1) / (n! (2n+1)), times 2/sqrt(pi); terms peak near e^(x^2), so ~1e-12 here.
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))), evaluated from the tail.
  let k = x;
  for (let n = 80; n >= 1; n--) k = x + n / 2 / k;
  return 1 - Math.exp(-x * x) / Math.sqrt(Math.PI) / k;
}

function cubics(): Float64Array {
  if (erfCubics) return erfCubics;
  const n = ERF_STEPS * ERF_MAX;
  // One more interval past the table: the constant 1, so lookups clamp instead of branching.
  const c = new Float64Array(4 * n + 4);
  c[4 * n] = 1;
  const f = (i: number) => erfReference(i / ERF_STEPS);
  // Derivative per table step (the interpolant runs in units of steps).
  const d = (i: number) => ((2 / Math.sqrt(Math.PI)) * Math.exp(-((i / ERF_STEPS) ** 2))) / ERF_STEPS;
  for (let i = 0; i < n; i++) {
    const [f0, f1, d0, d1] = [f(i), f(i + 1), d(i), d(i + 1)];
    // Hermite cubic through (f0, d0) at u = 0 and (f1, d1) at u = 1, in Horner form.
    c.set([f0, d0, 3 * (f1 - f0) - 2 * d0 - d1, 2 * (f0 - f1) + d0 + d1], 4 * i);
  }
  return (erfCubics = c);
}

/** erf of a >= 0 from the table (1 beyond it; NaN for NaN). Branch-free: activations' signs are random. */
function erfAbs(c: Float64Array, a: number): number {
  const t = Math.min(a * ERF_STEPS, ERF_STEPS * ERF_MAX);
  const i = t | 0;
  const u = t - i;
  const k = 4 * i;
  return c[k]! + u * (c[k + 1]! + u * (c[k + 2]! + u * c[k + 3]!));
}

/** erf in double precision to ~1e-11 (exported for the tests). */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const v = erfAbs(cubics(), Math.abs(x));
  return x < 0 ? -v : v;
}

/**
 * An elementwise float32 kernel: the SIMD function `simdName` over whole groups of four floats where it runs
 * on tfjs-wasm's heap, `loop` (from an index on) for the rest, or for all of it elsewhere.
 */
function elementwiseKernel(simdName: 'gelu' | 'geluTanh', loop: (xs: Float32Array, y: Float32Array, from: number) => void) {
  return ({ inputs, backend }: KernelArgs<Record<string, never>>): TensorInfo => {
    const io = ioFor(backend);
    const out = io.outputs([inputs.x!.shape], false);
    const y = out.done()[0]!;
    const n = size(inputs.x!.shape);
    const simd = simdOn(backend);
    const from = simd ? n - (n % 4) : 0;
    if (simd) simd.kernels[simdName](simd.offset(inputs.x!), simd.offset(y), from * 4);
    loop(io.read(inputs.x!), out.views[0]!, from);
    return y;
  };
}

/** GELU of xs[from..] into y[from..] through the erf table (erfAbs inlined: this loop is the whole cost). */
function geluLoop(xs: Float32Array, y: Float32Array, from: number): void {
  const c = cubics();
  const top = ERF_STEPS * ERF_MAX;
  const step = Math.SQRT1_2 * ERF_STEPS;
  for (let i = from; i < xs.length; i++) {
    const v = xs[i]!;
    const t = Math.min(Math.abs(v) * step, top);
    const j = t | 0;
    const u = t - j;
    const k = 4 * j;
    y[i] = 0.5 * v * (1 + Math.sign(v) * (c[k]! + u * (c[k + 1]! + u * (c[k + 2]! + u * c[k + 3]!))));
  }
}

/** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) of xs[from..] into y[from..]. */
function geluTanhLoop(xs: Float32Array, y: Float32Array, from: number): void {
  const c = Math.sqrt(2 / Math.PI);
  for (let i = from; i < xs.length; i++) {
    const v = xs[i]!;
    y[i] = 0.5 * v * (1 + Math.tanh(c * (v + 0.044715 * v * v * v)));
  }
}

/** relu(a + b) for two maps of one shape (a residual sum and its ReLU), SIMD over groups of four where it can. */
function addReluKernel({ inputs, backend }: KernelArgs<Record<string, never>>): TensorInfo {
  const { a, b } = inputs;
  const io = ioFor(backend);
  const out = io.outputs([a!.shape], false);
  const y = out.done()[0]!;
  const n = size(a!.shape);
  const simd = simdOn(backend);
  const from = simd ? n - (n % 4) : 0;
  if (simd) simd.kernels.addRelu(simd.offset(a!), simd.offset(b!), simd.offset(y), from * 4);
  const [as, bs, ys] = [io.read(a!), io.read(b!), out.views[0]!];
  for (let i = from; i < n; i++) ys[i] = Math.max(as[i]! + bs[i]!, 0);
  return y;
}

/** x + scale y for two maps of one shape and one scale per channel (last axis): a layer-scaled residual. */
function scaledAddKernel({ inputs, backend }: KernelArgs<Record<string, never>>): TensorInfo {
  const { x, y, scale } = inputs;
  const c = x!.shape[x!.shape.length - 1]!;
  const pixels = size(x!.shape) / c;
  const io = ioFor(backend);
  const out = io.outputs([x!.shape], false);
  const dst = out.done()[0]!;
  const simd = c % 4 === 0 ? simdOn(backend) : null;
  if (simd) {
    simd.kernels.channelScaledAdd(simd.offset(x!), simd.offset(y!), simd.offset(scale!), simd.offset(dst), pixels, c);
    return dst;
  }
  const [xs, ys, s, d] = [io.read(x!), io.read(y!), io.read(scale!), out.views[0]!];
  for (let i = 0; i < xs.length; i += c) for (let k = 0; k < c; k++) d[i + k] = xs[i + k]! + s[k]! * ys[i + k]!;
  return dst;
}

/**
 * Registers an inference-only kernel on the backends `inferenceShortcut` lets it run on (all of them, or
 * the named subset: a kernel that works on one backend's memory only).
 */
export function registerInferenceKernel(kernelName: string, kernelFunc: unknown, only?: string[]): void {
  for (const backendName of INFERENCE_BACKENDS) {
    if (only && !only.includes(backendName)) continue;
    if (!tf.getKernel(kernelName, backendName)) tf.registerKernel({ kernelName, backendName, kernelFunc: kernelFunc as tf.KernelFunc });
  }
}

registerInferenceKernel(LAYER_NORM, layerNormKernel);
// 0.5 x (1 + erf(x / sqrt 2)) and the tanh form, elementwise.
registerInferenceKernel(GELU_ERF, elementwiseKernel('gelu', geluLoop));
registerInferenceKernel(GELU_TANH, elementwiseKernel('geluTanh', geluTanhLoop));
registerInferenceKernel(ADD_RELU, addReluKernel);
registerInferenceKernel(SCALED_ADD, scaledAddKernel);

type RunKernel = (name: string, inputs: Record<string, Tensor>, attrs?: Record<string, unknown>) => Tensor;
/** Runs a kernel by name on the current backend (no gradient of its own). */
export const runKernel = (name: string, inputs: Record<string, Tensor>, attrs?: Record<string, unknown>): Tensor => (tf.engine().runKernel as unknown as RunKernel)(name, inputs, attrs);

/** LayerNorm over the last axis in one kernel (callers check `inferenceShortcut(LAYER_NORM)`). */
export function layerNormFused(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const inputs: Record<string, Tensor> = { x };
  if (weight) inputs.weight = weight;
  if (bias) inputs.bias = bias;
  return runKernel(LAYER_NORM, inputs, { eps });
}

/** Tanh-approximated GELU in one kernel (callers check `inferenceShortcut(GELU_TANH)`). */
export function geluTanhFused(x: Tensor): Tensor {
  return runKernel(GELU_TANH, { x });
}

/** Exact-erf GELU in one kernel (callers check `inferenceShortcut(GELU_ERF)`). */
export function geluFused(x: Tensor): Tensor {
  return runKernel(GELU_ERF, { x });
}

/** relu(a + b) in one kernel (callers check `inferenceShortcut(ADD_RELU)`; same shapes, float32). */
export function addReluFused(a: Tensor, b: Tensor): Tensor {
  return runKernel(ADD_RELU, { a, b });
}

/** x + scale y in one kernel (callers check `inferenceShortcut(SCALED_ADD)`; x, y of one shape, scale C values). */
export function scaledAddFused(x: Tensor, scale: Tensor, y: Tensor): Tensor {
  return runKernel(SCALED_ADD, { x, y, scale });
}

/**
 * x @ w + bias for x of any rank >= 2 as one _FusedMatMul kernel on operands (1, M, K) and (1, K, N),
 * skipping the three reshapes tf.fused.matMul adds around it; (1, M, K) inputs and (1, K, N) weights need
 * no reshape of their own. w is (K, N) or (1, K, N). Callers check `inferenceShortcut()` (stock kernels;
 * the gradient is tf.fused.matMul's).
 */
export function linearFused(x: Tensor, w: Tensor, bias: Tensor | null): Tensor {
  const [k, n] = w.shape.slice(-2) as [number, number];
  // wasm's matmul does not broadcast a batch of 1 in b over a's batch: only (1, M, K) inputs go as they are.
  const three = x.rank === 3 && x.shape[0] === 1;
  const a = three ? x : tf.reshape(x, [1, -1, k]);
  const b = w.rank === 3 ? w : tf.reshape(w, [1, k, n]);
  const inputs: Record<string, Tensor> = { a, b };
  if (bias) inputs.bias = bias;
  const y = runKernel('_FusedMatMul', inputs, { transposeA: false, transposeB: false, activation: 'linear' });
  if (three) return y;
  return tf.reshape(y, [...x.shape.slice(0, -1), n]);
}

/**
 * Eval-mode batch norm of a rank-4 input as the FusedBatchNorm kernel alone: tf.batchNorm adds a Reshape
 * of its result even when the input is already 4-D. Callers check `inferenceShortcut()`.
 */
export function batchNormFused(x: Tensor, mean: Tensor, variance: Tensor, scale: Tensor | null, offset: Tensor | null, eps: number): Tensor {
  const inputs: Record<string, Tensor> = { x, mean, variance };
  if (scale) inputs.scale = scale;
  if (offset) inputs.offset = offset;
  return runKernel('FusedBatchNorm', inputs, { varianceEpsilon: eps });
}
