/**
 * Matrix products on wasm through the SIMD matmul of ./simd/matmul.ts, registered over tfjs-wasm's kernels:
 * - BatchMatMul: tfjs-wasm runs every batched or transposed product (attention's per-head q k^T and attn v,
 *   KArAt's per-head features) in a scalar loop at ~2 GFLOP/s; the SIMD kernel runs them at 17-45 by shape.
 * - A single product (Linear layers, _FusedMatMul with its bias and ReLU) and 1x1 stride-1 convolutions
 *   (Conv2D, FusedConv2D: an NHWC map is a (pixels x in) matrix, tfjs's (1, 1, in, out) filter an (in x out)
 *   one): tfjs-wasm hands these to XNNPACK, at 25-34 GFLOP/s on the convnets' shapes here, the SIMD kernel
 *   1.1-1.6x faster (bias and ReLU added in registers), 1.4-2x with relaxed SIMD's fused multiply-add;
 *   whole forwards take 0.86-0.92x the time. Under four rows XNNPACK's single-row kernels stay.
 * Transposed operands are transposed into heap scratch first (a copy, O(size), against the product's
 * O(size x inner)). The stock kernels stay underneath for what this does not handle: broadcasts other than
 * all-or-one batch, non-float32, an empty inner dimension, fewer than four rows in a single product, other
 * activations, padded, strided or dilated convs, a multi-threaded tfjs-wasm (XNNPACK then uses every thread)
 * and `setFusedInference(false)`.
 */
import type { tf } from '../tf.js';
import { fusedInferenceEnabled } from './inference.js';
import type { TensorInfo } from './js_io.js';
import { replaceWasmKernel } from './replace_stock.js';
import { MATMUL_BIAS, MATMUL_COLUMNS_FIRST, MATMUL_RELU, type SimdOnHeap, matmulOrder, simdOn } from './simd/kernels.js';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  wasm?: { _get_threads_count?(): number };
}

/** What the kernel adds after the product: a bias row of n floats and / or a ReLU. */
interface Epilogue {
  bias?: TensorInfo;
  relu: boolean;
}

const product = (dims: number[]) => dims.reduce((p, v) => p * v, 1);
const sameDims = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const allOnes = (v: unknown) => v === undefined || v === 1 || (Array.isArray(v) && v.every((x) => x === 1));

let products = 0;
/** How many products the SIMD kernel has run in this process (tests check which path a model takes). */
export function wasmSimdMatMulCount(): number {
  return products;
}

export function registerWasmMatMul(): void {
  replaceWasmKernel('BatchMatMul', (stock) => (args) => {
    const { a, b } = args.inputs as unknown as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    return matMul(args.backend, a, b, transposeA, transposeB, { relu: false }) ?? stock(args);
  });
  replaceWasmKernel('_FusedMatMul', (stock) => (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as unknown as { a: TensorInfo; b: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
    const { transposeA, transposeB, activation } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean; activation: string };
    const epilogue = epilogueOf(bias, activation, preluActivationWeights, b.shape[transposeB ? b.shape.length - 2 : b.shape.length - 1]!);
    return (epilogue && matMul(args.backend, a, b, transposeA, transposeB, epilogue)) ?? stock(args);
  });
  const conv = (fused: boolean) => (stock: tf.KernelFunc) => (args: Parameters<tf.KernelFunc>[0]) => {
    const { x, filter, bias, preluActivationWeights } = args.inputs as unknown as { x: TensorInfo; filter: TensorInfo; bias?: TensorInfo; preluActivationWeights?: TensorInfo };
    const attrs = args.attrs as unknown as { strides: unknown; pad: unknown; dilations: unknown; dataFormat: string; activation?: string };
    const epilogue = epilogueOf(fused ? bias : undefined, fused ? (attrs.activation ?? 'linear') : 'linear', preluActivationWeights, filter.shape[3]!);
    return (epilogue && pointwiseConv(args.backend, x, filter, attrs, epilogue)) ?? stock(args);
  };
  replaceWasmKernel('Conv2D', conv(false));
  replaceWasmKernel('FusedConv2D', conv(true));
}

/** The epilogue for a bias of `n` floats (or none) and a linear or ReLU activation; null for anything else. */
function epilogueOf(bias: TensorInfo | undefined, activation: string, prelu: TensorInfo | undefined, n: number): Epilogue | null {
  if (prelu || (activation !== 'linear' && activation !== 'relu')) return null;
  if (bias && (bias.dtype !== 'float32' || product(bias.shape) !== n || bias.shape[bias.shape.length - 1] !== n)) return null;
  return { bias, relu: activation === 'relu' };
}

/** One call of the kernel with the epilogue's flags, the loop order for m and n and the scratch it needs. */
function run(simd: SimdOnHeap, a: number, b: number, out: TensorInfo, batch: number, m: number, k: number, n: number, aStride: number, bStride: number, epilogue: Epilogue): void {
  const order = matmulOrder(m, n);
  const flags = (epilogue.bias ? MATMUL_BIAS : 0) | (epilogue.relu ? MATMUL_RELU : 0) | order;
  const scratch = order === MATMUL_COLUMNS_FIRST ? simd.malloc(k * 64) : 0;
  try {
    products++;
    simd.kernels.matmul(a, b, simd.offset(out), batch, m, k, n, aStride, bStride, epilogue.bias ? simd.offset(epilogue.bias) : 0, flags, scratch);
  } finally {
    if (scratch) simd.free(scratch);
  }
}

/** No padding, stride or dilation anywhere: 'valid', 'same' (a 1x1 filter at stride 1), 0 or explicit zeros. */
function unpadded(pad: unknown): boolean {
  return pad === 'valid' || pad === 'same' || pad === 0 || (Array.isArray(pad) && pad.flat().every((p) => p === 0));
}

/** A 1x1, stride-1, unpadded NHWC conv as the product (pixels x in) @ (in x out); null for the stock kernel. */
function pointwiseConv(backend: unknown, x: TensorInfo, filter: TensorInfo, attrs: { strides: unknown; pad: unknown; dilations: unknown; dataFormat: string }, epilogue: Epilogue): TensorInfo | null {
  const [kh, kw, cin, cout] = filter.shape as [number, number, number, number];
  if (kh !== 1 || kw !== 1 || x.shape.length !== 4 || x.shape[3] !== cin || attrs.dataFormat !== 'NHWC') return null;
  if (!allOnes(attrs.strides) || !allOnes(attrs.dilations) || !unpadded(attrs.pad)) return null;
  const [n, h, w] = x.shape as [number, number, number];
  return product2d(backend, x, filter, n * h * w, cin, cout, [n, h, w, cout], epilogue);
}

/** A single (pixels or rows x k) @ (k x n) product with its epilogue, on the SIMD kernel; null for stock. */
function product2d(backend: unknown, a: TensorInfo, b: TensorInfo, m: number, k: number, n: number, shape: number[], epilogue: Epilogue): TensorInfo | null {
  if (!fusedInferenceEnabled() || a.dtype !== 'float32' || b.dtype !== 'float32' || k === 0 || xnnpackBetter(backend, m)) return null;
  const simd = simdOn(backend);
  if (!simd) return null;
  const out = (backend as WasmBackendLike).makeOutput(shape, 'float32');
  if (m * n === 0) return out;
  run(simd, simd.offset(a), simd.offset(b), out, 1, m, k, n, 0, 0, epilogue);
  return out;
}

/**
 * Whether XNNPACK does a single product of `m` rows better: under four rows (a pooled classifier input) its
 * single-row kernels are faster (0.36 against 0.6 ms at 1 x 768 x 1000), and where tfjs-wasm runs more than
 * one thread it splits the product over them.
 */
function xnnpackBetter(backend: unknown, m: number): boolean {
  return m < 4 || ((backend as WasmBackendLike).wasm?._get_threads_count?.() ?? 1) > 1;
}

/** The product in the SIMD kernel, or null for the stock kernel. */
function matMul(backend: unknown, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean, epilogue: Epilogue): TensorInfo | null {
  if (!fusedInferenceEnabled() || a.dtype !== 'float32' || b.dtype !== 'float32' || a.shape.length < 2 || b.shape.length < 2) return null;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const [m, k] = transposeA ? [a.shape[ra - 1]!, a.shape[ra - 2]!] : [a.shape[ra - 2]!, a.shape[ra - 1]!];
  const [kb, n] = transposeB ? [b.shape[rb - 1]!, b.shape[rb - 2]!] : [b.shape[rb - 2]!, b.shape[rb - 1]!];
  const outerA = a.shape.slice(0, -2);
  const outerB = b.shape.slice(0, -2);
  const batchA = product(outerA);
  const batchB = product(outerB);
  // Only equal batch dims or one side a single matrix (then the other side's dims are the output's).
  const outer = sameDims(outerA, outerB) ? outerA : batchB === 1 && outerA.length >= outerB.length ? outerA : batchA === 1 && outerB.length >= outerA.length ? outerB : null;
  if (!outer || k !== kb || k === 0) return null;
  const batch = product(outer);
  // A single product with a not transposed: XNNPACK's case in tfjs-wasm (b transposed or not), here the plain
  // kernel call or, with b transposed, the copy below, where XNNPACK is not better.
  if (batch === 1 && !transposeA) {
    if (!transposeB) return product2d(backend, a, b, m, k, n, [...outer, m, n], epilogue);
    if (xnnpackBetter(backend, m)) return null;
  }
  const simd = simdOn(backend);
  if (!simd) return null;
  const out = (backend as WasmBackendLike).makeOutput([...outer, m, n], 'float32');
  if (batch * m * n === 0) return out;
  const scratch: number[] = [];
  // A (rows x cols) per batch in its transposed, row-major form on the heap.
  const transposed = (t: TensorInfo, count: number, rows: number, cols: number) => {
    const p = simd.malloc(count * rows * cols * 4);
    scratch.push(p);
    simd.kernels.transpose(simd.offset(t), p, count, rows, cols);
    return p;
  };
  try {
    const pa = transposeA ? transposed(a, batchA, k, m) : simd.offset(a);
    const pb = transposeB ? transposed(b, batchB, n, k) : simd.offset(b);
    run(simd, pa, pb, out, batch, m, k, n, batchA === 1 ? 0 : m * k * 4, batchB === 1 ? 0 : k * n * 4, epilogue);
  } finally {
    for (const p of scratch) simd.free(p);
  }
  return out;
}
