/**
 * Neighborhood attention as direct typed-array loops, registered as tfjs kernels for the cpu and wasm
 * backends (forward and backward). Per (batch, query, head): logits over the plan's slots, softmax, weighted
 * sum of values; nothing of size (N, K, C) is materialized, unlike the composite.
 */
import { tf } from '../tf.js';
import type { NeighborhoodPlan } from './neighborhood_plan.js';
import { type Io, type TensorInfo, ioFor } from './js_io.js';
import { f32Bits, simdOn, type SimdOnHeap } from './simd/kernels.js';

export const NA_FORWARD = 'VizooNeighborhoodAttention';
export const NA_BACKWARD = 'VizooNeighborhoodAttentionGrad';

interface Attrs {
  plan: NeighborhoodPlan;
  scale: number;
}

/**
 * Softmax weights of one (batch, query, head): fills `w` (length K; masked slots 0) from the pre-scaled query
 * `qs` (NATTEN scales q before the dot product) and the keys, plus the RPB entry of each slot.
 */
function slotWeights(w: Float64Array, qs: Float64Array, k: Float32Array, rpbRow: Float32Array | null, rpbIdx: Int32Array | null, nbr: Int32Array, base: number, kk: number, rowStride: number, colOff: number, d: number): void {
  let max = -Infinity;
  for (let j = 0; j < kk; j++) {
    const nb = nbr[base + j]!;
    if (nb < 0) {
      w[j] = -Infinity;
      continue;
    }
    const kOff = nb * rowStride + colOff;
    let dot = 0;
    for (let c = 0; c < d; c++) dot += qs[c]! * k[kOff + c]!;
    if (rpbRow) dot += rpbRow[rpbIdx![base + j]!]!;
    w[j] = dot;
    if (dot > max) max = dot;
  }
  let sum = 0;
  for (let j = 0; j < kk; j++) {
    const e = w[j] === -Infinity ? 0 : Math.exp(w[j]! - max);
    w[j] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let j = 0; j < kk; j++) w[j]! *= inv;
}

function forward({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: Attrs }): TensorInfo {
  const { plan, scale } = attrs;
  const [b, nt, heads, d] = inputs.q!.shape as [number, number, number, number];
  const io = ioFor(backend);
  const simd = d % 4 === 0 ? simdOn(backend) : null;
  if (simd) return forwardSimd(simd, io, inputs, plan, scale);
  const out = io.outputs([[b, nt, heads, d]]);
  const q = io.read(inputs.q!);
  const k = io.read(inputs.k!);
  const v = io.read(inputs.v!);
  const rpb = inputs.rpb ? io.read(inputs.rpb) : null;
  const y = out.views[0]!;
  const kk = plan.numSlots;
  const nbr = plan.neighbors;
  const rpbIdx = plan.rpbIndex;
  const rowStride = heads * d; // one token's channels
  const w = new Float64Array(kk);
  const qs = new Float64Array(d);
  const acc = new Float64Array(d);
  for (let bi = 0; bi < b; bi++) {
    const batchOff = bi * nt * rowStride;
    for (let n = 0; n < nt; n++) {
      const base = n * kk;
      for (let hh = 0; hh < heads; hh++) {
        const qOff = batchOff + n * rowStride + hh * d;
        for (let c = 0; c < d; c++) qs[c] = q[qOff + c]! * scale;
        const rpbRow = rpb ? rpb.subarray(hh * plan.rpbSize, (hh + 1) * plan.rpbSize) : null;
        slotWeights(w, qs, k, rpbRow, rpbIdx, nbr, base, kk, rowStride, batchOff + hh * d, d);
        acc.fill(0);
        for (let j = 0; j < kk; j++) {
          const nb = nbr[base + j]!;
          if (nb < 0) continue;
          const wj = w[j]!;
          const vOff = batchOff + nb * rowStride + hh * d;
          for (let c = 0; c < d; c++) acc[c]! += wj * v[vOff + c]!;
        }
        for (let c = 0; c < d; c++) y[qOff + c] = acc[c]!;
      }
    }
  }
  return out.done()[0]!;
}

/**
 * The forward in WebAssembly SIMD on tfjs-wasm's heap (float32 throughout, where the JS loop accumulates in
 * double): the plan's index tables and the slot weights go to heap scratch for the call.
 */
function forwardSimd(simd: SimdOnHeap, io: Io, inputs: Record<string, TensorInfo>, plan: NeighborhoodPlan, scale: number): TensorInfo {
  const [b, nt, heads, d] = inputs.q!.shape as [number, number, number, number];
  const y = io.outputs([[b, nt, heads, d]], false).done()[0]!;
  const tables = [plan.neighbors, ...(inputs.rpb ? [plan.rpbIndex!] : [])];
  const ptrs = tables.map((t) => simd.malloc(t.byteLength));
  const w = simd.malloc(4 * (plan.numSlots + 3));
  try {
    // Views after every allocation (an allocation may grow the heap and detach older views).
    const heap = io.read(inputs.q!).buffer;
    tables.forEach((t, i) => new Int32Array(heap, ptrs[i]!, t.length).set(t));
    const at = (t: TensorInfo) => simd.offset(t);
    const rpb = inputs.rpb ? at(inputs.rpb) : 0;
    const scaleBits = f32Bits(scale);
    simd.kernels.neighborhoodAttention(at(inputs.q!), at(inputs.k!), at(inputs.v!), rpb, ptrs[0]!, ptrs[1] ?? 0, at(y), w, b, nt, heads, d, plan.numSlots, plan.rpbSize, scaleBits);
  } finally {
    for (const p of [...ptrs, w]) simd.free(p);
  }
  return y;
}

function backward({ inputs, backend, attrs }: { inputs: Record<string, TensorInfo>; backend: unknown; attrs: Attrs }): TensorInfo[] {
  const { plan, scale } = attrs;
  const shape = inputs.q!.shape;
  const [b, nt, heads, d] = shape as [number, number, number, number];
  const io = ioFor(backend);
  const shapes = [shape, shape, shape];
  if (inputs.rpb) shapes.push(inputs.rpb.shape);
  const out = io.outputs(shapes);
  const q = io.read(inputs.q!);
  const k = io.read(inputs.k!);
  const v = io.read(inputs.v!);
  const dy = io.read(inputs.dy!);
  const rpb = inputs.rpb ? io.read(inputs.rpb) : null;
  const [dq, dk, dv, drpb] = out.views as [Float32Array, Float32Array, Float32Array, Float32Array | undefined];
  const kk = plan.numSlots;
  const nbr = plan.neighbors;
  const rpbIdx = plan.rpbIndex;
  const rowStride = heads * d;
  const w = new Float64Array(kk);
  const dA = new Float64Array(kk);
  const qs = new Float64Array(d);
  for (let bi = 0; bi < b; bi++) {
    const batchOff = bi * nt * rowStride;
    for (let n = 0; n < nt; n++) {
      const base = n * kk;
      for (let hh = 0; hh < heads; hh++) {
        const qOff = batchOff + n * rowStride + hh * d;
        for (let c = 0; c < d; c++) qs[c] = q[qOff + c]! * scale;
        const rpbRow = rpb ? rpb.subarray(hh * plan.rpbSize, (hh + 1) * plan.rpbSize) : null;
        slotWeights(w, qs, k, rpbRow, rpbIdx, nbr, base, kk, rowStride, batchOff + hh * d, d);
        // dA_j = dy . v_j;  dLogit_j = w_j (dA_j - sum_i w_i dA_i)   (softmax VJP)
        let wdA = 0;
        for (let j = 0; j < kk; j++) {
          const nb = nbr[base + j]!;
          if (nb < 0) {
            dA[j] = 0;
            continue;
          }
          const vOff = batchOff + nb * rowStride + hh * d;
          let s = 0;
          for (let c = 0; c < d; c++) s += dy[qOff + c]! * v[vOff + c]!;
          dA[j] = s;
          wdA += w[j]! * s;
        }
        for (let j = 0; j < kk; j++) {
          const nb = nbr[base + j]!;
          if (nb < 0) continue;
          const wj = w[j]!;
          const dl = wj * (dA[j]! - wdA);
          const off = batchOff + nb * rowStride + hh * d;
          const sdl = scale * dl;
          for (let c = 0; c < d; c++) {
            dq[qOff + c]! += sdl * k[off + c]!;
            dk[off + c]! += dl * qs[c]!;
            dv[off + c]! += wj * dy[qOff + c]!;
          }
          if (drpb) drpb[hh * plan.rpbSize + rpbIdx![base + j]!]! += dl;
        }
      }
    }
  }
  return out.done();
}

/** Registers the kernels for cpu and wasm (once per process). */
export function registerJsKernels(): void {
  for (const backendName of ['cpu', 'wasm']) {
    if (!tf.getKernel(NA_FORWARD, backendName)) {
      tf.registerKernel({ kernelName: NA_FORWARD, backendName, kernelFunc: forward as unknown as tf.KernelFunc });
    }
    if (!tf.getKernel(NA_BACKWARD, backendName)) {
      tf.registerKernel({ kernelName: NA_BACKWARD, backendName, kernelFunc: backward as unknown as tf.KernelFunc });
    }
  }
}
