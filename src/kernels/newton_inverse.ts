/**
 * SOFT's Newton-Schulz pseudo-inverse (src/blocks/soft_attention.ts) as single kernels for inference on the
 * cpu and wasm backends. As composites, the 20 steps x <- 2x - (x p) x are 80 kernels per call and
 * SOFT-Norm's halving test (10 candidate alphas) about 90 more, each kernel a small (landmarks x landmarks)
 * op. Both kernels here are values only: while autograd records, and on other backends, the composites run.
 */
import { type Tensor } from '../tf.js';
import { type Io, ioFor, type KernelArgs, type TensorInfo } from './js_io.js';
import { registerInferenceKernel, runKernel } from './inference.js';
import { type SimdOnHeap, simdOn } from './simd/kernels.js';

export const NEWTON_STEPS = 'VizooNewtonSteps';
export const NORM_HALVING = 'VizooNormHalving';

/** SOFT-Norm's halving loop: at most this many halvings, stopping once pnorm <= the float32 tolerance. */
const MAX_HALVINGS = 10;
const PNORM_TOLERANCE = Math.fround(1.01);

/** (matrices, m) of a (..., m, m) shape. */
function squareBatch(shape: number[]): [number, number] {
  const m = shape[shape.length - 1]!;
  return [shape.slice(0, -2).reduce((a, b) => a * b, 1), m];
}

/** c = a b for m x m row-major matrices in double (c must not alias a or b). */
function matmul(a: Float64Array, b: Float64Array, c: Float64Array, m: number): void {
  c.fill(0);
  for (let i = 0; i < m; i++) {
    const row = i * m;
    for (let k = 0; k < m; k++) {
      const aik = a[row + k]!;
      const bk = k * m;
      for (let j = 0; j < m; j++) c[row + j] += aik * b[bk + j]!;
    }
  }
}

/**
 * Each step as (2I - x p) x, the same polynomial as 2x - (x p) x: with p negated once, a step is two matrix
 * products and m diagonal additions, no elementwise pass over the matrices.
 */
function newtonStepsKernel({ inputs, backend, attrs }: KernelArgs<{ iters: number }>): TensorInfo {
  const { x0, p } = inputs as { x0: TensorInfo; p: TensorInfo };
  const io = ioFor(backend);
  const out = io.outputs([x0.shape], false);
  const [count, m] = squareBatch(x0.shape);
  const simd = simdOn(backend);
  if (simd && count * m > 0) return stepsSimd(simd, io, x0, p, out.done()[0]!, count, m, attrs.iters);
  // Double precision throughout: faster than float32 arrays in V8 here (49 x 49 products: 0.33 against 0.44 ms), and closer to the exact iteration.
  const [xs, ps, y] = [io.read(x0), io.read(p), out.views[0]!];
  const mm = m * m;
  const negP = new Float64Array(mm);
  let x = new Float64Array(mm);
  let next = new Float64Array(mm);
  const t = new Float64Array(mm);
  for (let b = 0; b < count; b++) {
    const off = b * mm;
    for (let i = 0; i < mm; i++) {
      negP[i] = -ps[off + i]!;
      x[i] = xs[off + i]!;
    }
    for (let s = 0; s < attrs.iters; s++) {
      matmul(x, negP, t, m);
      for (let i = 0; i < mm; i += m + 1) t[i] += 2;
      matmul(t, x, next, m);
      [x, next] = [next, x];
    }
    y.set(x, off);
  }
  return out.done()[0]!;
}

/** The steps with the SIMD matmul on tfjs-wasm's heap (float32, as the composite's BatchMatMul). */
function stepsSimd(simd: SimdOnHeap, io: Io, x0: TensorInfo, p: TensorInfo, y: TensorInfo, count: number, m: number, iters: number): TensorInfo {
  const bytes = count * m * m * 4;
  const [negP, t, other] = [simd.malloc(bytes), simd.malloc(bytes), simd.malloc(bytes)];
  try {
    // A view after every allocation: an allocation may grow (and detach) the heap.
    const heap = new Float32Array(io.read(x0).buffer);
    const at = (byteOffset: number) => byteOffset / 4;
    const [x0At, pAt, negAt, tAt, n] = [at(simd.offset(x0)), at(simd.offset(p)), at(negP), at(t), bytes / 4];
    for (let i = 0; i < n; i++) heap[negAt + i] = -heap[pAt + i]!;
    // x ping-pongs between y and `other`, starting where the last step will write into y.
    let [x, next] = iters % 2 === 0 ? [simd.offset(y), other] : [other, simd.offset(y)];
    heap.copyWithin(at(x), x0At, x0At + n);
    const mm = m * m;
    for (let s = 0; s < iters; s++) {
      simd.kernels.matmul(x, negP, t, count, m, m, m, mm * 4, mm * 4, 0, 0, 0);
      for (let i = tAt; i < tAt + n; i += mm) for (let d = i; d < i + mm; d += m + 1) heap[d] += 2;
      simd.kernels.matmul(t, x, next, count, m, m, m, mm * 4, mm * 4, 0, 0, 0);
      [x, next] = [next, x];
    }
  } finally {
    for (const ptr of [negP, t, other]) simd.free(ptr);
  }
  return y;
}

/**
 * 0.5^k for the first k in 0..9 with pnorm(alpha0 0.5^k) <= 1.01, else 0.5^10, where pnorm(a) is the max over
 * every matrix and column of the column sums of |I - a p p|. p p is formed once (the SIMD matmul on wasm,
 * double in JS), the sums in double; candidates are tried in order and the first that passes ends the search.
 */
function normHalvingKernel({ inputs, backend }: KernelArgs<Record<string, never>>): TensorInfo {
  const { alpha0, p } = inputs as { alpha0: TensorInfo; p: TensorInfo };
  const io = ioFor(backend);
  const [count, m] = squareBatch(p.shape);
  const a0 = io.read(alpha0)[0]!;
  const pnorm = (pp: ArrayLike<number>, a: number) => {
    let max = 0;
    const cols = new Float64Array(m);
    for (let b = 0; b < count; b++) {
      cols.fill(0);
      for (let i = 0, off = b * m * m; i < m; i++, off += m) for (let j = 0; j < m; j++) cols[j] += Math.abs((i === j ? 1 : 0) - a * pp[off + j]!);
      for (let j = 0; j < m; j++) max = Math.max(max, cols[j]!);
    }
    return max;
  };
  const halvings = (pp: ArrayLike<number>) => {
    for (let k = 0; k < MAX_HALVINGS; k++) if (pnorm(pp, a0 * 0.5 ** k) <= PNORM_TOLERANCE) return k;
    return MAX_HALVINGS;
  };
  const simd = simdOn(backend);
  let k: number;
  if (simd && count * m > 0) {
    const pp = simd.malloc(count * m * m * 4);
    try {
      simd.kernels.matmul(simd.offset(p), simd.offset(p), pp, count, m, m, m, m * m * 4, m * m * 4, 0, 0, 0);
      k = halvings(new Float32Array(io.read(p).buffer, pp, count * m * m));
    } finally {
      simd.free(pp);
    }
  } else {
    const ps = io.read(p);
    const pp = new Float64Array(count * m * m);
    const [a, c] = [new Float64Array(m * m), new Float64Array(m * m)];
    for (let b = 0; b < count; b++) {
      a.set(ps.subarray(b * m * m, (b + 1) * m * m));
      matmul(a, a, c, m);
      pp.set(c, b * m * m);
    }
    k = halvings(pp);
  }
  // The output after the scratch is freed: an earlier view could have been detached by the allocation.
  const out = io.outputs([[]], false);
  out.views[0]![0] = 0.5 ** k;
  return out.done()[0]!;
}

registerInferenceKernel(NEWTON_STEPS, newtonStepsKernel);
registerInferenceKernel(NORM_HALVING, normHalvingKernel);

function checkSquare(what: string, t: Tensor): void {
  const r = t.rank;
  if (t.dtype !== 'float32' || r < 2 || t.shape[r - 1] !== t.shape[r - 2]) throw new Error(`${what}: expected float32 (..., m, m) matrices, got ${t.dtype} [${t.shape}]`);
}

/** `iters` steps of x <- 2x - x p x from x0 for a batch of m x m matrices, as one kernel (callers check `inferenceShortcut(NEWTON_STEPS)`). */
export function newtonSteps(x0: Tensor, p: Tensor, iters: number): Tensor {
  checkSquare('newtonSteps', p);
  if (x0.dtype !== p.dtype || x0.rank !== p.rank || x0.shape.some((d, i) => d !== p.shape[i])) throw new Error(`newtonSteps: x0 [${x0.shape}] and p [${p.shape}] must have the same shape`);
  if (!Number.isInteger(iters) || iters < 0) throw new Error(`newtonSteps: iters must be a non-negative integer, got ${iters}`);
  return runKernel(NEWTON_STEPS, { x0, p }, { iters });
}

/** SOFT-Norm's alpha halving factor (see `normHalvingKernel`) as one kernel (callers check `inferenceShortcut(NORM_HALVING)`). */
export function normHalvingFused(alpha0: Tensor, p: Tensor): Tensor {
  checkSquare('normHalving', p);
  if (alpha0.dtype !== 'float32' || alpha0.size !== 1) throw new Error(`normHalving: alpha0 must be one float32 value, got ${alpha0.dtype} [${alpha0.shape}]`);
  return runKernel(NORM_HALVING, { alpha0, p });
}
