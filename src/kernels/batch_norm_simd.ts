/**
 * Inference batch norm as one pass y = x scale + shift over the channels-last map, with scale = gamma /
 * sqrt(var + eps) and shift = beta - mean scale computed once per call in double (C values):
 * - over tfjs-wasm's FusedBatchNorm, in SIMD: the stock kernel costs ~2 ns per element here (853 ms of
 *   BEVANet-S's 512x1024 forward); this one is memory-bound. The stock kernel stays underneath for other
 *   shapes: statistics that are not one value per channel, channel counts not a multiple of 4,
 *   non-float32, `setFusedInference(false)`;
 * - `VizooBatchNormRelu`, the same with the ReLU after it in the same pass (pre-activation BN -> ReLU -> conv
 *   units), an inference kernel on cpu (JS) and wasm (SIMD where it can, JS otherwise).
 */
import type { Tensor } from '../tf.js';
import { fusedInferenceEnabled, registerInferenceKernel, runKernel } from './inference.js';
import { type Io, type KernelArgs, type TensorInfo, ioFor } from './js_io.js';
import { replaceWasmKernel } from './replace_stock.js';
import { f32Bits, simdOn } from './simd/kernels.js';

export const BATCH_NORM_RELU = 'VizooBatchNormRelu';

type Inputs = Record<string, TensorInfo | undefined>;

export function registerWasmBatchNorm(): void {
  replaceWasmKernel('FusedBatchNorm', (stock) => (args) => {
    const inputs = args.inputs as unknown as Inputs;
    const eps = (args.attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
    return (fusedInferenceEnabled() && batchNormSimd(args.backend, inputs, eps, false)) || stock(args);
  });
}

/** [scale (c), shift (c)] into `out` from the statistics and the affine parameters (read after any allocation). */
function coefficients(io: Io, inputs: Inputs, eps: number, out: Float32Array, c: number): void {
  const [mu, va] = [io.read(inputs.mean!), io.read(inputs.variance!)];
  const [g, b] = [inputs.scale ? io.read(inputs.scale) : null, inputs.offset ? io.read(inputs.offset) : null];
  for (let i = 0; i < c; i++) {
    const s = (g ? g[i]! : 1) / Math.sqrt(va[i]! + eps);
    out[i] = s;
    out[c + i] = (b ? b[i]! : 0) - mu[i]! * s;
  }
}

/** Whether the inputs are one float32 map with one statistic per channel (what both paths handle). */
function perChannel(inputs: Inputs): boolean {
  const { x, mean, variance, scale, offset } = inputs;
  if (!x || !mean || !variance || x.dtype !== 'float32' || x.shape.length === 0) return false;
  const c = x.shape[x.shape.length - 1]!;
  const one = (t: TensorInfo | undefined) => !t || (t.dtype === 'float32' && t.shape.reduce((p, v) => p * v, 1) === c && t.shape.length <= 1);
  return c > 0 && [mean, variance, scale, offset].every(one);
}

function batchNormSimd(backend: unknown, inputs: Inputs, eps: number, relu: boolean): TensorInfo | null {
  const x = inputs.x!;
  if (!perChannel(inputs) || x.shape[x.shape.length - 1]! % 4 !== 0) return null;
  const simd = simdOn(backend);
  if (!simd) return null;
  const c = x.shape[x.shape.length - 1]!;
  const io = ioFor(backend);
  const y = io.outputs([x.shape], false).done()[0]!;
  const coef = simd.malloc(8 * c);
  try {
    // The view after every allocation: an allocation may grow (and detach) the heap.
    coefficients(io, inputs, eps, new Float32Array(io.read(x).buffer, coef, 2 * c), c);
    const pixels = x.shape.reduce((p, v) => p * v, 1) / c;
    simd.kernels.channelAffine(simd.offset(x), coef, simd.offset(y), pixels, c, f32Bits(relu ? 0 : -Infinity));
  } finally {
    simd.free(coef);
  }
  return y;
}

function batchNormReluKernel({ inputs, backend, attrs }: KernelArgs<{ eps: number }>): TensorInfo {
  const viaSimd = batchNormSimd(backend, inputs, attrs.eps, true);
  if (viaSimd) return viaSimd;
  const x = inputs.x!;
  const c = x.shape[x.shape.length - 1]!;
  const io = ioFor(backend);
  const out = io.outputs([x.shape], false);
  const coef = new Float32Array(2 * c);
  coefficients(io, inputs, attrs.eps, coef, c);
  const [xs, y] = [io.read(x), out.views[0]!];
  for (let i = 0; i < xs.length; i += c) for (let k = 0; k < c; k++) y[i + k] = Math.max(xs[i + k]! * coef[k]! + coef[c + k]!, 0);
  return out.done()[0]!;
}

registerInferenceKernel(BATCH_NORM_RELU, batchNormReluKernel);

/** relu(batch norm of x) with one statistic per channel, in one kernel (callers check `inferenceShortcut(BATCH_NORM_RELU)`). */
export function batchNormReluFused(x: Tensor, mean: Tensor, variance: Tensor, scale: Tensor | null, offset: Tensor | null, eps: number): Tensor {
  const inputs: Record<string, Tensor> = { x, mean, variance };
  if (scale) inputs.scale = scale;
  if (offset) inputs.offset = offset;
  return runKernel(BATCH_NORM_RELU, inputs, { eps });
}
