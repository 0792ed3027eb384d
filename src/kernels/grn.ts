/**
 * Global Response Normalization (src/blocks/grn.ts) as one inference kernel on the cpu and wasm backends:
 * per image, every channel's sum of squares over H and W (in blocks of rows, the blocks added in double),
 * then y = x (1 + gamma N) + beta in one more pass, with N = G / (mean_c G + 1e-6) computed in double for
 * the C channels. The composite is ten kernels (Square, Sum, Sqrt, Mean, Add, RealDiv, Mul, Add, Mul, Add).
 * On tfjs-wasm both passes are WebAssembly SIMD over the heap (./simd) when C is a multiple of 4.
 */
import type { Tensor } from '../tf.js';
import { ioFor, type KernelArgs, type TensorInfo } from './js_io.js';
import { registerInferenceKernel, runKernel } from './inference.js';
import { f32Bits, type SimdOnHeap, simdOn } from './simd/kernels.js';

export const GRN_KERNEL = 'VizooGrn';

/** GRN's epsilon in mean_c G + eps (fixed in the official module). */
const EPS = 1e-6;
/** Rows summed in float32 before the partial sums go into the double accumulator. */
const BLOCK = 256;

/** Per-channel scale 1 + gamma N from the sums of squares (double). */
function scales(sumSq: Float64Array, gamma: Float32Array): Float64Array {
  const c = sumSq.length;
  const g = sumSq.map(Math.sqrt);
  const mean = g.reduce((a, v) => a + v, 0) / c;
  return g.map((v, i) => 1 + (gamma[i]! * v) / (mean + EPS));
}

function grnJs(x: Float32Array, gamma: Float32Array, beta: Float32Array | null, y: Float32Array, images: number, pixels: number, c: number): void {
  const sumSq = new Float64Array(c);
  for (let n = 0; n < images; n++) {
    const base = n * pixels * c;
    sumSq.fill(0);
    for (let i = base; i < base + pixels * c; i += c) for (let k = 0; k < c; k++) sumSq[k] += x[i + k]! * x[i + k]!;
    const s = scales(sumSq, gamma);
    for (let i = base; i < base + pixels * c; i += c) for (let k = 0; k < c; k++) y[i + k] = x[i + k]! * s[k]! + (beta ? beta[k]! : 0);
  }
}

/** Both passes in SIMD on the heap; `coef` holds [scale (c), shift (c)] for channelAffine, and doubles as the float32 block sums. */
function grnSimd(simd: SimdOnHeap, x: TensorInfo, y: TensorInfo, read: (t: TensorInfo) => Float32Array, gamma: TensorInfo, beta: TensorInfo | undefined, images: number, pixels: number, c: number): void {
  const coef = simd.malloc(8 * c);
  try {
    // Views taken after the allocation (it may grow, and detach, the heap); nothing allocates after it.
    const coefs = new Float32Array(read(x).buffer, coef, 2 * c);
    const [g, b] = [read(gamma), beta ? read(beta) : null];
    const sumSq = new Float64Array(c);
    for (let n = 0; n < images; n++) {
      const image = simd.offset(x) + 4 * n * pixels * c;
      sumSq.fill(0);
      for (let p = 0; p < pixels; p += BLOCK) {
        coefs.fill(0, 0, c);
        simd.kernels.channelSumSquares(image + 4 * p * c, coef, Math.min(BLOCK, pixels - p), c);
        for (let k = 0; k < c; k++) sumSq[k] += coefs[k]!;
      }
      const s = scales(sumSq, g);
      for (let k = 0; k < c; k++) {
        coefs[k] = s[k]!;
        coefs[c + k] = b ? b[k]! : 0;
      }
      simd.kernels.channelAffine(image, coef, simd.offset(y) + 4 * n * pixels * c, pixels, c, f32Bits(-Infinity));
    }
  } finally {
    simd.free(coef);
  }
}

function grnKernel({ inputs, backend }: KernelArgs): TensorInfo {
  const { x, gamma, beta } = inputs;
  const [images, h, w, c] = x!.shape as [number, number, number, number];
  const io = ioFor(backend);
  const out = io.outputs([x!.shape], false);
  const simd = c % 4 === 0 ? simdOn(backend) : null;
  if (simd) {
    const y = out.done()[0]!;
    grnSimd(simd, x!, y, io.read, gamma!, beta, images, h * w, c);
    return y;
  }
  grnJs(io.read(x!), io.read(gamma!), beta ? io.read(beta) : null, out.views[0]!, images, h * w, c);
  return out.done()[0]!;
}

registerInferenceKernel(GRN_KERNEL, grnKernel);

/** GRN of an NHWC map in one kernel (callers check `inferenceShortcut(GRN_KERNEL)`); gamma and beta hold C values. */
export function grnFused(x: Tensor, gamma: Tensor, beta: Tensor | null): Tensor {
  const inputs: Record<string, Tensor> = { x, gamma };
  if (beta) inputs.beta = beta;
  return runKernel(GRN_KERNEL, inputs);
}
