/**
 * Gated linear attention (GLA; Yang, Wang, Shen, Panda, Kim, "Gated Linear Attention Transformers with
 * Hardware-Efficient Training", arXiv 2312.06635) with data-dependent, per-key-channel log-space gates,
 * as used by ViG (Liao et al., arXiv 2405.18425) in both scan directions.
 *
 * Per batch and head, with q_t, k_t in R^dk, v_t in R^dv and gates a_t in R^dk (a_t <= 0):
 *   S_t = diag(exp(a_t)) S_{t-1} + k_t v_t^T,   o_t = (scale * q_t)^T S_t      (forward scan, S_{-1} = 0)
 * The reverse scan runs t = L-1 .. 0 with its own gates (indexed by the original position). The
 * bidirectional form returns (o_fwd + o_bwd) / 2, like the official `bid_fused_recurrent_gla`.
 * Tensors are (B, H, L, D) as in flash-linear-attention.
 *
 * Implementations (same interface, same result up to fp32 rounding):
 * - `recurrent`: the step-by-step scan above (L sequential steps); the reference.
 * - `chunk` (default off webgpu): chunk-parallel, see `scanChunked`. Within chunks of c tokens the
 *   pairwise decays are formed in log space with every exponent <= 0 (strongly negative gates
 *   underflow harmlessly, nothing overflows, unlike the cumulative-ratio form q exp(B) . k exp(-B)),
 *   and the outputs are matmuls; the recurrent state crosses chunks through the chunk recurrence,
 *   solved by a log-depth associative scan. Both directions of the bidirectional form run in one pass
 *   without flipping the sequence. tfjs ops only, no host reads: runs (and differentiates) on every
 *   backend.
 * - on cpu and wasm, `auto` outside autograd runs the scan as one JS kernel (gated_linear_attention_js.ts).
 * - `fused`: a WGSL kernel for the webgpu backend (one thread per (batch, head, value channel) keeps a
 *   column of the state; both directions in one dispatch). Its gradient is the chunk form's: while
 *   autograd records, the chunk form runs in its place.
 */
import { tf, type Tensor } from '../tf.js';
import { glaWebgpuAvailable, runGlaWebgpu, type GlaScanMode } from './gated_linear_attention_webgpu.js';
import { GLA_SCAN, glaScanJs } from './gated_linear_attention_js.js';
import { inferenceShortcut } from './inference.js';

export type GlaImpl = 'auto' | 'chunk' | 'recurrent' | 'fused';

export interface GlaOptions {
  /** Multiplies q; default dk^-0.5. */
  scale?: number;
  /** Tokens per chunk of the chunk form (default 16). */
  chunkSize?: number;
  /** `auto`: `fused` on webgpu (chunk while recording gradients), else `chunk`. */
  impl?: GlaImpl;
}

export const DEFAULT_GLA_CHUNK = 16;

interface Dims {
  b: number;
  h: number;
  l: number;
  dk: number;
  dv: number;
}

function dims(q: Tensor, k: Tensor, v: Tensor, gates: Tensor[]): Dims {
  if (q.rank !== 4) throw new Error(`GLA: q must be (B, H, L, dk), got [${q.shape}]`);
  const [b, h, l, dk] = q.shape as number[];
  const same = (t: Tensor, d: number) => t.rank === 4 && t.shape[0] === b && t.shape[1] === h && t.shape[2] === l && t.shape[3] === d;
  if (!same(k, dk!)) throw new Error(`GLA: k must have q's shape [${q.shape}], got [${k.shape}]`);
  if (v.rank !== 4 || v.shape[0] !== b || v.shape[1] !== h || v.shape[2] !== l) throw new Error(`GLA: v must be (B, H, L, dv) with q's B, H, L, got [${v.shape}]`);
  for (const g of gates) if (!same(g, dk!)) throw new Error(`GLA: gates must have q's shape [${q.shape}], got [${g.shape}]`);
  return { b: b!, h: h!, l: l!, dk: dk!, dv: v.shape[3]! };
}

const defaultScale = (dk: number, scale?: number) => scale ?? dk ** -0.5;

/** (B, H, L, D) -> (B*H, L, D). */
const flat = (t: Tensor): Tensor => tf.reshape(t, [-1, t.shape[2]!, t.shape[3]!]);

/** Step-by-step scan on (G, L, D) tensors; q already scaled. */
function scanRecurrent(q: Tensor, k: Tensor, v: Tensor, g: Tensor, reverse: boolean): Tensor {
  const [gN, l, dk] = q.shape as number[];
  const dv = v.shape[2]!;
  const qs = tf.unstack(q, 1);
  const ks = tf.unstack(k, 1);
  const vs = tf.unstack(v, 1);
  const gs = tf.unstack(g, 1);
  let s: Tensor = tf.zeros([gN!, dk!, dv]);
  const out: Tensor[] = new Array<Tensor>(l!);
  for (let i = 0; i < l!; i++) {
    const t = reverse ? l! - 1 - i : i;
    const decay = tf.expandDims(tf.exp(gs[t]!), 2);
    s = tf.add(tf.mul(s, decay), tf.mul(tf.expandDims(ks[t]!, 2), tf.expandDims(vs[t]!, 1)));
    out[t] = tf.sum(tf.mul(tf.expandDims(qs[t]!, 2), s), 1);
  }
  return tf.stack(out, 1);
}

/** Constant 0/1 matrices, built on the host from static sizes only. */
function constMatrix(rows: number, cols: number, f: (i: number, j: number) => boolean): Tensor {
  const m = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) if (f(i, j)) m[i * cols + j] = 1;
  return tf.tensor2d(m, [rows, cols]);
}

/**
 * Chunk-parallel scan on (G, L, D) tensors (q already scaled) in the forward direction (gates `fwd`),
 * the reverse direction (gates `bwd`, indexed by original position), or both, returning the SUM of the
 * requested directions. The reverse direction is computed in place (suffix sums, upper-triangular
 * masks, state passed right to left) rather than by flipping the sequence.
 *
 * With chunks of c tokens, chunk-local inclusive prefix sums b of the forward gates and suffix sums r
 * of the backward gates:
 *   intra  o_t += sum_{s<=t} (q_t . (k_s * exp(b_t - b_s))) v_s  +  sum_{s>=t} (q_t . (k_s * exp(r_t - r_s))) v_s
 *   inter  o_t += (q_t * exp(b_t)) S_in + (q_t * exp(r_t)) R_in
 * where S_in is the forward state entering the chunk from the left and R_in the backward state entering
 * from the right; across a chunk, S_out = exp(b_last) S_in + (k * exp(b_last - b))^T v and
 * R_out = exp(r_first) R_in + (k * exp(r_first - r))^T v. Every exponent is <= 0 (the pairwise
 * differences outside each direction's triangle are multiplied by 0 before exp, then masked), so
 * strongly negative gates underflow harmlessly and nothing overflows.
 */
function scanChunked(q: Tensor, k: Tensor, v: Tensor, fwd: Tensor | null, bwd: Tensor | null, chunk: number): Tensor {
  const [gN, l, dk] = q.shape as number[];
  const dv = v.shape[2]!;
  const c = Math.max(1, Math.min(chunk, l!));
  const n = Math.ceil(l! / c);
  const m = n * gN!;
  const pad = n * c - l!;
  // Zero padding at the end: no decay, no contribution in either direction, outputs dropped.
  // Chunk-major rows (chunk i of sequence g at row i*G + g) so that per-chunk states are contiguous.
  const chunked = (t: Tensor) => {
    const d = t.shape[2]!;
    const p = pad ? tf.pad(t, [[0, 0], [0, pad], [0, 0]]) : t;
    return tf.reshape(tf.transpose(tf.reshape(p, [gN!, n, c, d]), [1, 0, 2, 3]), [m, c, d]);
  };
  const qc = chunked(q);
  const kc = chunked(k);
  const vc = chunked(v);
  /** Chunk-local cumulative sums of the gates along c: x (M, c, dk) -> x^T tri (as (M*dk, c) matmuls). */
  const along = (g: Tensor, tri: Tensor) => tf.transpose(tf.reshape(tf.matMul(tf.reshape(tf.transpose(g, [0, 2, 1]), [m * dk!, c]), tri), [m, dk!, c]), [0, 2, 1]);
  const gf = fwd && chunked(fwd);
  const gb = bwd && chunked(bwd);
  const b = gf && along(gf, constMatrix(c, c, (i, j) => i <= j)); // prefix sums b_t = sum_{j<=t} a_j
  const r = gb && along(gb, constMatrix(c, c, (i, j) => i >= j)); // suffix sums r_t = sum_{j>=t} c_j
  const totals = (g: Tensor) => tf.reshape(tf.sum(g, 1), [m, dk!, 1]); // the whole chunk's log decay

  // Intra-chunk pairwise decays (M, t, s, dk). Each pair's exponent is its direction's difference
  // (forward below the diagonal, backward above; the other direction's entries are multiplied by 0 so
  // nothing overflows), so the bidirectional case needs one exp; the diagonal counts once per direction.
  const diff = (x: Tensor) => tf.sub(tf.expandDims(x, 2), tf.expandDims(x, 1));
  const mask = (f: (t: number, u: number) => boolean) => tf.reshape(constMatrix(c, c, f), [1, c, c, 1]);
  // (A nested tidy frees the (M, c, c, dk) intermediates as soon as the scores exist.)
  const scores = tf.tidy(() => {
    let decay: Tensor;
    if (b && r) {
      const exponent = tf.add(tf.mul(diff(b), mask((t, u) => u < t)), tf.mul(diff(r), mask((t, u) => u > t)));
      decay = tf.add(tf.exp(exponent), mask((t, u) => u === t));
    } else {
      const below = !!b;
      const inside = mask((t, u) => (below ? u <= t : u >= t));
      decay = tf.mul(tf.exp(tf.mul(diff((b ?? r)!), inside)), inside);
    }
    return tf.sum(tf.mul(tf.mul(tf.expandDims(qc, 2), tf.expandDims(kc, 1)), decay), 3);
  });
  let out = tf.matMul(scores, vc);

  if (n > 1) {
    // States entering each chunk. The chunk recurrence S_{i+1} = D_i S_i + U_i is solved by a
    // log-depth associative scan over the chunk axis (Hillis-Steele: (D, U) o (D', U') = (D D', D U' + U)),
    // whole-tensor ops only: per-chunk slicing costs O(N * size) per slice on wasm. Products of decays
    // stay <= 1.
    const states = (kDecayed: Tensor, across: Tensor, leftToRight: boolean) => {
      const shift = (x: Tensor, d: number, fill: number) => {
        const rest = x.shape.slice(1).map(() => [0, 0] as [number, number]);
        const padded = tf.pad(x, [leftToRight ? [d, 0] : [0, d], ...rest], fill);
        return tf.slice(padded, [leftToRight ? 0 : d, ...rest.map(() => 0)], x.shape);
      };
      let u = tf.reshape(tf.matMul(kDecayed, vc, true, false), [n, gN! * dk!, dv]); // each chunk's own contribution
      let dec = tf.reshape(tf.exp(across), [n, gN! * dk!, 1]); // decay across each chunk
      for (let d = 1; d < n; d *= 2) {
        const [u0, dec0] = [u, dec];
        [u, dec] = tf.tidy(() => [tf.add(u0, tf.mul(dec0, shift(u0, d, 0))), 2 * d < n ? tf.mul(dec0, shift(dec0, d, 1)) : dec0.clone()]);
        tf.dispose([u0, dec0]);
      }
      // u now holds each chunk's outgoing state; the incoming one is the neighbour's.
      return tf.reshape(shift(u, 1, 0), [m, dk!, dv]);
    };
    if (b && gf) {
      const last = tf.reshape(totals(gf), [m, 1, dk!]);
      const sIn = states(tf.mul(kc, tf.exp(tf.sub(last, b))), last, true);
      out = tf.add(out, tf.matMul(tf.mul(qc, tf.exp(b)), sIn));
    }
    if (r && gb) {
      const first = tf.reshape(totals(gb), [m, 1, dk!]);
      const rIn = states(tf.mul(kc, tf.exp(tf.sub(first, r))), first, false);
      out = tf.add(out, tf.matMul(tf.mul(qc, tf.exp(r)), rIn));
    }
  }
  const seq = tf.reshape(tf.transpose(tf.reshape(out, [n, gN!, c, dv]), [1, 0, 2, 3]), [gN!, n * c, dv]);
  return pad ? tf.slice(seq, [0, 0, 0], [-1, l!, -1]) : seq;
}

/** One direction on (B, H, L, D) through the composite implementations. */
function scanComposite(q: Tensor, k: Tensor, v: Tensor, g: Tensor, reverse: boolean, impl: 'chunk' | 'recurrent', scale: number, chunk: number): Tensor {
  const { b, h, l, dv } = dims(q, k, v, [g]);
  return tf.tidy(() => {
    const qs = tf.mul(flat(q), scale);
    const o = impl === 'recurrent' ? scanRecurrent(qs, flat(k), flat(v), flat(g), reverse) : scanChunked(qs, flat(k), flat(v), reverse ? null : flat(g), reverse ? flat(g) : null, chunk);
    return tf.reshape(o, [b, h, l, dv]);
  });
}

function resolveImpl(impl: GlaImpl | undefined): Exclude<GlaImpl, 'auto'> {
  if (impl === 'fused' || !impl || impl === 'auto') {
    if (impl === 'fused' && !glaWebgpuAvailable()) throw new Error(`GLA impl 'fused' needs the webgpu backend (active: ${tf.getBackend()})`);
    return glaWebgpuAvailable() && !recording() ? 'fused' : 'chunk';
  }
  return impl;
}

/** Composite bidirectional form: (o_fwd + o_bwd) / 2. */
function bidComposite(q: Tensor, k: Tensor, v: Tensor, gf: Tensor, gb: Tensor, impl: 'chunk' | 'recurrent', scale: number, chunk: number): Tensor {
  const { b, h, l, dv } = dims(q, k, v, [gf, gb]);
  return tf.tidy(() => {
    if (impl === 'recurrent') {
      const of = scanComposite(q, k, v, gf, false, 'recurrent', scale, chunk);
      const ob = scanComposite(q, k, v, gb, true, 'recurrent', scale, chunk);
      return tf.mul(tf.add(of, ob), 0.5);
    }
    // Both directions in one pass: shared chunking, one scores @ v matmul; the 1/2 folds into q.
    const o = scanChunked(tf.mul(flat(q), scale * 0.5), flat(k), flat(v), flat(gf), flat(gb), chunk);
    return tf.reshape(o, [b, h, l, dv]);
  });
}

/**
 * Whether autograd is recording (inside tf.grads / variableGrads / optimizer.minimize). The fused
 * kernel has no backward of its own: while recording, the chunk form runs instead, so gradients are
 * the composite's exactly (a customGrad that re-runs the composite in its backward would only add the
 * fused forward's cost, and tfjs cannot nest tf.grads inside a gradient function).
 */
function recording(): boolean {
  return tf.engine().state.gradientDepth > 0;
}

function fused(mode: GlaScanMode, scale: number, q: Tensor, k: Tensor, v: Tensor, gates: Tensor[]): Tensor {
  return runGlaWebgpu(mode, scale, q, k, v, gates);
}

/** `auto` on cpu / wasm outside autograd: the one-kernel JS scan (explicit impls keep their own). */
function jsScan(impl: GlaImpl | undefined): boolean {
  return (impl ?? 'auto') === 'auto' && inferenceShortcut(GLA_SCAN);
}

/** Forward (causal) scan: o_t sees tokens 0..t. */
export function glaForward(q: Tensor, k: Tensor, v: Tensor, g: Tensor, opts: GlaOptions = {}): Tensor {
  const { dk } = dims(q, k, v, [g]);
  const scale = defaultScale(dk, opts.scale);
  const impl = resolveImpl(opts.impl);
  const chunk = opts.chunkSize ?? DEFAULT_GLA_CHUNK;
  if (impl === 'fused') return fused('forward', scale, q, k, v, [g]);
  if (jsScan(opts.impl)) return glaScanJs('forward', scale, q, k, v, g);
  return scanComposite(q, k, v, g, false, impl, scale, chunk);
}

/** Reverse scan: o_t sees tokens t..L-1, with gates indexed by the original position. */
export function glaReverse(q: Tensor, k: Tensor, v: Tensor, g: Tensor, opts: GlaOptions = {}): Tensor {
  const { dk } = dims(q, k, v, [g]);
  const scale = defaultScale(dk, opts.scale);
  const impl = resolveImpl(opts.impl);
  const chunk = opts.chunkSize ?? DEFAULT_GLA_CHUNK;
  if (impl === 'fused') return fused('reverse', scale, q, k, v, [g]);
  if (jsScan(opts.impl)) return glaScanJs('reverse', scale, q, k, v, g);
  return scanComposite(q, k, v, g, true, impl, scale, chunk);
}

/**
 * Bidirectional GLA ("direction-wise gating"): the same q, k, v scanned forward with gates `gFwd` and
 * backward with gates `gBwd` (both at original positions); returns (o_fwd + o_bwd) / 2. The token at t
 * counts in both directions.
 */
export function glaBidirectional(q: Tensor, k: Tensor, v: Tensor, gFwd: Tensor, gBwd: Tensor, opts: GlaOptions = {}): Tensor {
  const { dk } = dims(q, k, v, [gFwd, gBwd]);
  const scale = defaultScale(dk, opts.scale);
  const impl = resolveImpl(opts.impl);
  const chunk = opts.chunkSize ?? DEFAULT_GLA_CHUNK;
  if (impl === 'fused') return fused('bid', scale, q, k, v, [gFwd, gBwd]);
  if (jsScan(opts.impl)) return glaScanJs('bid', scale, q, k, v, gFwd, gBwd);
  return bidComposite(q, k, v, gFwd, gBwd, impl, scale, chunk);
}
