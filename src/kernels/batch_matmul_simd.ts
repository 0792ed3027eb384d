/**
 * BatchMatMul for wasm through the SIMD matmul of ./simd/kernels.ts. tfjs-backend-wasm hands a single
 * matrix product (no batch, a not transposed) to XNNPACK (~20 GFLOP/s here) but runs every other case
 * (attention's per-head q k^T and attn v, KArAt's per-head features) in a scalar loop at ~2 GFLOP/s; the
 * SIMD kernel runs those at 17-27 GFLOP/s. Transposed operands are transposed into heap scratch first (a
 * copy, O(size), against the product's O(size x inner)). The stock kernel stays registered underneath for
 * what it does well or what this does not handle: the single-matrix case, broadcasts other than
 * all-or-one batch, non-float32, an empty inner dimension, and `setFusedInference(false)`.
 */
import { fusedInferenceEnabled } from './inference.js';
import type { TensorInfo } from './js_io.js';
import { replaceWasmKernel } from './replace_stock.js';
import { simdOn } from './simd/kernels.js';

interface WasmBackendLike {
  makeOutput(shape: number[], dtype: string): TensorInfo;
}

const product = (dims: number[]) => dims.reduce((p, v) => p * v, 1);
const sameDims = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

export function registerWasmBatchMatMul(): void {
  replaceWasmKernel('BatchMatMul', (stock) => (args) => {
    const { a, b } = args.inputs as unknown as { a: TensorInfo; b: TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
    return batchMatMul(args.backend, a, b, transposeA, transposeB) ?? stock(args);
  });
}

/** The product in the SIMD kernel, or null for the stock kernel. */
function batchMatMul(backend: unknown, a: TensorInfo, b: TensorInfo, transposeA: boolean, transposeB: boolean): TensorInfo | null {
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
  if (batch === 1 && !transposeA) return null; // XNNPACK's case
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
    simd.kernels.matmul(pa, pb, simd.offset(out), batch, m, k, n, batchA === 1 ? 0 : m * k * 4, batchB === 1 ? 0 : k * n * 4);
  } finally {
    for (const p of scratch) simd.free(p);
  }
  return out;
}
