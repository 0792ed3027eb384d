/**
 * Neighborhood attention (NA / DiNA, NATTEN 0.17) and generalized NA (GNA: stride, causal; NATTEN >= 0.20)
 * on heads-last tensors q, k, v of shape (B, *spatial, heads, head_dim), 1-D to 3-D.
 *
 * Three implementations of one op, all driven by the host-side plan of `neighborhood_plan.ts`:
 * - composite: tfjs ops only (gather of neighbor keys/values, softmax over the slots, weighted sum). Runs and
 *   differentiates on every backend and uses only ops an ONNX exporter can trace. Always correct; the others
 *   are tested against it.
 * - JS typed-array kernel for cpu and wasm (`neighborhood_attention_js.ts`), forward and backward.
 * - WGSL kernels for webgpu (`neighborhood_attention_webgpu.ts`); its backward is the composite's VJP
 *   written out with tfjs ops (`compositeBackward`).
 * Fused paths register their gradient with tf.customGrad.
 */
import { tf, type Tensor } from '../tf.js';
import { type NeighborhoodPlan, type NeighborhoodSpec, gatherableNeighbors, neighborhoodPlan, perAxis, validateSpec } from './neighborhood_plan.js';
import { NA_BACKWARD, NA_FORWARD, registerJsKernels } from './neighborhood_attention_js.js';
import { registerWebGpuKernels } from './neighborhood_attention_webgpu.js';

export { type NeighborhoodPlan, type NeighborhoodSpec, neighborhoodPlan } from './neighborhood_plan.js';

registerJsKernels();
registerWebGpuKernels();

export type NeighborhoodImpl = 'auto' | 'composite' | 'fused';

export interface NeighborhoodAttentionOptions {
  kernelSize: number | readonly number[];
  /** GNA stride per axis (default 1; stride == kernel gives blocked attention). */
  stride?: number | readonly number[];
  dilation?: number | readonly number[];
  isCausal?: boolean | readonly boolean[];
  /** Logit scale (default head_dim^-0.5), applied to q before the dot product as NATTEN does. */
  scale?: number;
  /** Relative positional bias (heads, 2k-1, ...) of NATTEN 0.17; odd kernels, non-causal only. */
  rpb?: Tensor | null;
  /** Implementation: 'auto' (fused where one exists for the backend), 'composite' or 'fused'. */
  impl?: NeighborhoodImpl;
}

let defaultImpl: NeighborhoodImpl = 'auto';

/** Sets the implementation used when a call does not name one (tests and benchmarks compare them). */
export function setNeighborhoodAttentionImpl(impl: NeighborhoodImpl): void {
  defaultImpl = impl;
}

/** Backends with a fused kernel. */
export function hasFusedNeighborhoodAttention(backendName = tf.getBackend()): boolean {
  return tf.getKernel(NA_FORWARD, backendName) !== undefined;
}

export function resolveSpec(rank: number, o: NeighborhoodAttentionOptions): NeighborhoodSpec {
  return {
    kernelSize: perAxis(o.kernelSize, rank, 'kernelSize') as number[],
    stride: perAxis(o.stride ?? 1, rank, 'stride') as number[],
    dilation: perAxis(o.dilation ?? 1, rank, 'dilation') as number[],
    isCausal: perAxis(o.isCausal ?? false, rank, 'isCausal') as boolean[],
  };
}

/**
 * Neighborhood attention: q, k, v (B, *spatial, heads, head_dim) -> (B, *spatial, heads, head_dim). Each
 * query attends to the keys of its (clamped, dilated, strided, possibly causal) window; softmax runs over
 * those keys after the scale and the RPB are added.
 */
export function neighborhoodAttention(q: Tensor, k: Tensor, v: Tensor, opts: NeighborhoodAttentionOptions): Tensor {
  const rank = q.rank - 3;
  if (rank < 1 || rank > 3) throw new Error(`neighborhood attention: expected q of rank 4 to 6 (B, *spatial, heads, head_dim), got shape [${q.shape}]`);
  for (const [name, t] of [['k', k], ['v', v]] as const) {
    if (t.shape.length !== q.shape.length || t.shape.some((s, i) => s !== q.shape[i])) {
      throw new Error(`neighborhood attention: ${name} has shape [${t.shape}] but q has [${q.shape}]`);
    }
  }
  const spec = resolveSpec(rank, opts);
  const spatial = q.shape.slice(1, 1 + rank);
  const [heads, headDim] = q.shape.slice(1 + rank) as [number, number];
  const rpb = opts.rpb ?? null;
  validateSpec(spatial, spec, rpb !== null);
  if (rpb) {
    const want = [heads, ...spec.kernelSize.map((kk) => 2 * kk - 1)];
    if (rpb.shape.length !== want.length || rpb.shape.some((s, i) => s !== want[i])) {
      throw new Error(`neighborhood attention: rpb has shape [${rpb.shape}], expected [${want}]`);
    }
  }
  const plan = neighborhoodPlan(spatial, spec);
  const scale = opts.scale ?? headDim ** -0.5;
  const impl = opts.impl ?? defaultImpl;
  const b = q.shape[0]!;
  return tf.tidy(() => {
    const flat = (t: Tensor) => tf.reshape(t, [b, plan.numTokens, heads, headDim]);
    const useFused = impl === 'fused' || (impl === 'auto' && preferFused());
    if (impl === 'fused' && !hasFusedNeighborhoodAttention()) throw new Error(`neighborhood attention: no fused kernel for backend '${tf.getBackend()}'`);
    const y = useFused ? fusedOp(flat(q), flat(k), flat(v), rpb, plan, scale) : compositeForward(flat(q), flat(k), flat(v), rpb, plan, scale);
    return tf.reshape(y, q.shape);
  });
}

/** 'auto' uses the fused kernel where it was measured faster than the composite (bench/local_sparse.ts). */
function preferFused(): boolean {
  return hasFusedNeighborhoodAttention();
}

const MASK = -1e30;

interface Gathered {
  /** (B, N, K, heads, head_dim) scaled-q-independent neighbor keys and values. */
  kg: Tensor;
  vg: Tensor;
  /** (B, N, K, heads) attention weights. */
  attn: Tensor;
  /** (B, N, 1, heads, head_dim) q * scale. */
  qs: Tensor;
}

/** Composite forward pieces (tfjs ops only; the neighbor table is a constant from the plan). */
function gatherAttention(q: Tensor, k: Tensor, v: Tensor, rpb: Tensor | null, plan: NeighborhoodPlan, scale: number): Gathered {
  const [b, n, h, d] = q.shape as [number, number, number, number];
  const kk = plan.numSlots;
  const idx = tf.tensor1d(gatherableNeighbors(plan), 'int32');
  const pick = (t: Tensor) => tf.reshape(tf.gather(tf.reshape(t, [b, n, h * d]), idx, 1), [b, n, kk, h, d]);
  const kg = pick(k);
  const vg = pick(v);
  const qs = tf.reshape(tf.mul(q, scale), [b, n, 1, h, d]);
  let logits = tf.sum(tf.mul(qs, kg), -1); // (B, N, K, h)
  if (rpb) {
    // Table (h, T) -> (T, h), gathered per (query, slot) at key - query + k - 1
    // (docs/families/nat.md#relative-positional-bias).
    const table = tf.transpose(tf.reshape(rpb, [h, plan.rpbSize]));
    const bias = tf.gather(table, tf.tensor1d(plan.rpbIndex!, 'int32'), 0);
    logits = tf.add(logits, tf.reshape(bias, [n, kk, h]));
  }
  if (plan.masked) {
    const mask = Float32Array.from(plan.neighbors, (x) => (x < 0 ? MASK : 0));
    logits = tf.add(logits, tf.tensor3d(mask, [n, kk, 1]));
  }
  // Softmax over the slot axis (2), written out so no transpose of the big tensors is needed.
  const e = tf.exp(tf.sub(logits, tf.max(logits, 2, true)));
  const attn = tf.div(e, tf.sum(e, 2, true));
  return { kg, vg, attn, qs };
}

/** The composite op on (B, N, heads, head_dim) tensors. Differentiable through tfjs autodiff. */
export function compositeForward(q: Tensor, k: Tensor, v: Tensor, rpb: Tensor | null, plan: NeighborhoodPlan, scale: number): Tensor {
  return tf.tidy(() => {
    const { vg, attn } = gatherAttention(q, k, v, rpb, plan, scale);
    return tf.sum(tf.mul(tf.expandDims(attn, -1), vg), 2);
  });
}

/** Sums (B, N, K, h, d) slot contributions back onto the key positions they were gathered from. */
function scatterToKeys(slots: Tensor, plan: NeighborhoodPlan): Tensor {
  const [b, n, kk, h, d] = slots.shape as number[];
  const rows = tf.transpose(tf.reshape(slots, [b!, n! * kk!, h! * d!]), [1, 0, 2]);
  const summed = tf.unsortedSegmentSum(rows, tf.tensor1d(gatherableNeighbors(plan), 'int32'), n!);
  return tf.reshape(tf.transpose(summed, [1, 0, 2]), [b!, n!, h!, d!]);
}

/**
 * The composite's vector-Jacobian product written with tfjs ops: (dq, dk, dv, drpb?) for upstream dy.
 * Used as the gradient of the WGSL kernel (tfjs cannot nest a gradient tape inside a custom gradient).
 */
export function compositeBackward(q: Tensor, k: Tensor, v: Tensor, rpb: Tensor | null, dy: Tensor, plan: NeighborhoodPlan, scale: number): Tensor[] {
  return tf.tidy(() => {
    const [b, n, h, d] = q.shape as [number, number, number, number];
    const { kg, vg, attn, qs } = gatherAttention(q, k, v, rpb, plan, scale);
    const dyE = tf.reshape(dy, [b, n, 1, h, d]);
    const dAttn = tf.sum(tf.mul(dyE, vg), -1);
    const dLogits = tf.mul(attn, tf.sub(dAttn, tf.sum(tf.mul(attn, dAttn), 2, true)));
    const dl = tf.expandDims(dLogits, -1);
    const dq = tf.mul(tf.sum(tf.mul(dl, kg), 2), scale);
    const dk = scatterToKeys(tf.mul(dl, qs), plan);
    const dv = scatterToKeys(tf.mul(tf.expandDims(attn, -1), dyE), plan);
    const grads = [dq, dk, dv];
    if (rpb) {
      const perSlot = tf.reshape(tf.sum(dLogits, 0), [n * plan.numSlots, h]);
      const table = tf.unsortedSegmentSum(perSlot, tf.tensor1d(plan.rpbIndex!, 'int32'), plan.rpbSize);
      grads.push(tf.reshape(tf.transpose(table), rpb.shape));
    }
    return grads;
  });
}

/** The fused kernel of the current backend, with its gradient. */
function fusedOp(q: Tensor, k: Tensor, v: Tensor, rpb: Tensor | null, plan: NeighborhoodPlan, scale: number): Tensor {
  const attrs = { plan, scale } as unknown as Record<string, never>;
  const backward = (inputs: Tensor[], dy: Tensor): Tensor[] => {
    const [q2, k2, v2, r2] = inputs as [Tensor, Tensor, Tensor, Tensor | undefined];
    if (tf.getKernel(NA_BACKWARD, tf.getBackend())) {
      const named: Record<string, Tensor> = { q: q2, k: k2, v: v2, dy };
      if (r2) named.rpb = r2;
      return tf.engine().runKernel(NA_BACKWARD, named, attrs) as unknown as Tensor[];
    }
    return compositeBackward(q2, k2, v2, r2 ?? null, dy, plan, scale);
  };
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const ins = args as Tensor[];
    save(ins);
    const named: Record<string, Tensor> = { q: ins[0]!, k: ins[1]!, v: ins[2]! };
    if (ins[3]) named.rpb = ins[3];
    const value = tf.engine().runKernel(NA_FORWARD, named, attrs) as Tensor;
    return { value, gradFunc: (dy: Tensor, saved: Tensor[]) => backward(saved, dy) };
  });
  return rpb ? f(q, k, v, rpb) : f(q, k, v);
}
