/**
 * FusedBatchNorm (inference batch norm) for wasm as one SIMD pass y = x scale + shift over the channels-last
 * map, with scale = gamma / sqrt(var + eps) and shift = beta - mean scale computed once per call in double
 * (C values). tfjs-backend-wasm's kernel costs ~2 ns per element here (853 ms of BEVANet-S's 512x1024
 * forward); this one is memory-bound. The stock kernel stays underneath for other shapes: statistics that
 * are not one value per channel, channel counts not a multiple of 4, non-float32, `setFusedInference(false)`.
 */
import { fusedInferenceEnabled } from './inference.js';
import { type TensorInfo, ioFor } from './js_io.js';
import { replaceWasmKernel } from './replace_stock.js';
import { simdOn } from './simd/kernels.js';

export function registerWasmBatchNorm(): void {
  replaceWasmKernel('FusedBatchNorm', (stock) => (args) => {
    const inputs = args.inputs as unknown as Record<string, TensorInfo | undefined>;
    const eps = (args.attrs as unknown as { varianceEpsilon: number }).varianceEpsilon;
    return batchNorm(args.backend, inputs, eps) ?? stock(args);
  });
}

function batchNorm(backend: unknown, inputs: Record<string, TensorInfo | undefined>, eps: number): TensorInfo | null {
  const { x, mean, variance, scale, offset } = inputs;
  if (!fusedInferenceEnabled() || !x || !mean || !variance || x.dtype !== 'float32' || x.shape.length === 0) return null;
  const c = x.shape[x.shape.length - 1]!;
  const perChannel = (t: TensorInfo | undefined) => !t || (t.dtype === 'float32' && t.shape.reduce((p, v) => p * v, 1) === c && t.shape.length <= 1);
  if (c % 4 !== 0 || c === 0 || ![mean, variance, scale, offset].every(perChannel)) return null;
  const simd = simdOn(backend);
  if (!simd) return null;
  const io = ioFor(backend);
  const y = io.outputs([x.shape], false).done()[0]!;
  const coef = simd.malloc(8 * c);
  try {
    // Views after every allocation: an allocation may grow (and detach) the heap.
    const [mu, va] = [io.read(mean), io.read(variance)];
    const [g, b] = [scale ? io.read(scale) : null, offset ? io.read(offset) : null];
    const out = new Float32Array(mu.buffer, coef, 2 * c);
    for (let i = 0; i < c; i++) {
      const s = (g ? g[i]! : 1) / Math.sqrt(va[i]! + eps);
      out[i] = s;
      out[c + i] = (b ? b[i]! : 0) - mu[i]! * s;
    }
    const pixels = x.shape.reduce((p, v) => p * v, 1) / c;
    simd.kernels.channelAffine(simd.offset(x), coef, simd.offset(y), pixels, c);
  } finally {
    simd.free(coef);
  }
  return y;
}
