/**
 * Linear attention without softmax, optionally causal and with a per-head scalar decay: per batch and
 * head, with q_i, k_j in R^d and v_j in R^e,
 *   non-causal  o_i = sum_j (q_i . k_j) v_j                       = Q (K^T V)
 *   causal      o_i = sum_{j<=i} lambda^(i-j) (q_i . k_j) v_j     = ((Q K^T) . M) V
 * with M[i, j] = exp(-s (i - j)) for j <= i and 0 above the diagonal (s = 0: the plain causal mask).
 * TransNormer's NormAttention (no decay), Based's Taylor linear attention (no decay; its denominator is
 * the same sum with v = 1) and Lightning Attention-2 (decay s per head, ALiBi slopes) are all this.
 * Tensors are (B, H, N, D).
 *
 * Causal implementations (same result up to fp32 rounding):
 * - `plain`: the N x N masked score matrix, as the official PyTorch references compute it. O(N^2).
 * - `chunk`: Lightning Attention-2's tiling (Qin et al., arXiv 2401.04658, Alg. 1): blocks of c tokens;
 *   inside a block the masked scores as above, across blocks the key-value state
 *   KV_g = sum_b exp(-s (c - b)) k_b^T v_b of every earlier block, decayed by exp(-s c) per block and
 *   read as exp(-s a) q_a KV. The block states are combined by one (G x G) matmul (not a loop), so the
 *   form is whole-tensor ops, O(N c + N d e + G^2 d e), and differentiates and exports like any op.
 * With a feature map phi (Based's Taylor map), q . k above is phi(q) . phi(k); a `FeatureKernel` gives it both
 * as a function of the raw dot product (the N x N and in-block scores, at the cost of the raw width) and
 * as explicit features (the carried state and the non-causal form).
 * ViG's gated linear attention kernel (kernels/gated_linear_attention.ts) covers per-channel data-dependent
 * gates; a scalar decay needs no (c x c x d) pairwise decays, so it has this cheaper form of its own.
 */
import { tf, type Tensor } from '../tf.js';

export type LinearAttentionImpl = 'auto' | 'plain' | 'chunk';

/** A feature map phi in two forms: phi(q) . phi(k) from q . k, and phi itself on the last axis. */
export interface FeatureKernel {
  score(dot: Tensor): Tensor;
  features(x: Tensor): Tensor;
  /** Width of phi(x) for an x of width d. */
  featureSize(d: number): number;
}

export interface LinearAttentionOptions {
  causal: boolean;
  /** Per-head decay rates s_h >= 0 (causal only); absent: no decay. */
  slopes?: readonly number[] | null;
  /** `auto` (default): whichever form costs fewer multiply-adds at this length (`chunkPays`). */
  impl?: LinearAttentionImpl;
  /** Tokens per block of the chunk form (default 64). */
  blockSize?: number;
  /** A feature map applied to q and k (default: none). */
  kernel?: FeatureKernel;
}

export const DEFAULT_LINEAR_ATTENTION_BLOCK = 64;

/** (H, rows, cols) host-built constant: f(h, i, j) per entry. */
function constant(h: number, rows: number, cols: number, f: (h: number, i: number, j: number) => number): Tensor {
  const m = new Float32Array(h * rows * cols);
  for (let a = 0; a < h; a++) for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) m[(a * rows + i) * cols + j] = f(a, i, j);
  return tf.tensor3d(m, [h, rows, cols]);
}

/** The causal (decay) mask M (H or 1, n, n). */
export function causalDecayMask(n: number, slopes?: readonly number[] | null): Tensor {
  const s = slopes ?? [0];
  return constant(s.length, n, n, (h, i, j) => (j <= i ? Math.exp(-s[h]! * (i - j)) : 0));
}

function checkShapes(q: Tensor, k: Tensor, v: Tensor, slopes?: readonly number[] | null): void {
  const [b, h, n, d] = q.shape;
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) throw new Error(`linear attention: q, k, v must be (B, H, N, D), got [${q.shape}], [${k.shape}], [${v.shape}]`);
  if (k.shape[0] !== b || k.shape[1] !== h || k.shape[2] !== n || k.shape[3] !== d) throw new Error(`linear attention: k [${k.shape}] must have q's shape [${q.shape}]`);
  if (v.shape[0] !== b || v.shape[1] !== h || v.shape[2] !== n) throw new Error(`linear attention: v [${v.shape}] must have q's B, H, N [${q.shape}]`);
  if (slopes && slopes.length !== h) throw new Error(`linear attention: ${slopes.length} decay slopes for ${h} heads`);
}

/** q k^T over the last two axes, through the kernel's score function when there is one. */
function scores(q: Tensor, k: Tensor, kernel?: FeatureKernel): Tensor {
  const dot = tf.matMul(q, k, false, true);
  return kernel ? kernel.score(dot) : dot;
}

/** Causal form through the full masked score matrix. */
function causalPlain(q: Tensor, k: Tensor, v: Tensor, slopes?: readonly number[] | null, kernel?: FeatureKernel): Tensor {
  return tf.tidy(() => tf.matMul(tf.mul(scores(q, k, kernel), causalDecayMask(q.shape[2]!, slopes)), v));
}

/** Causal form in blocks of c tokens (module comment). */
function causalChunked(q: Tensor, k: Tensor, v: Tensor, c: number, slopes?: readonly number[] | null, kernel?: FeatureKernel): Tensor {
  return tf.tidy(() => {
    const [b, h, n] = q.shape as number[];
    const e = v.shape[3]!;
    const g = Math.ceil(n! / c);
    const pad = g * c - n!;
    // Zero rows at the end: their keys and values add nothing, their outputs are dropped.
    const blocks = (t: Tensor) => {
      const p = pad ? tf.pad(t, [[0, 0], [0, 0], [0, pad], [0, 0]]) : t;
      return tf.reshape(p, [b!, h!, g, c, t.shape[3]!]);
    };
    const s = slopes ?? null;
    const hs = s ? h! : 1;
    const rate = (a: number) => (s ? s[a]! : 0);
    const vb = blocks(v);
    // Intra-block: ((Q_g K_g^T) . M_c) V_g.
    const mask = tf.reshape(causalDecayMask(c, s), [1, hs, 1, c, c]);
    const intra = tf.matMul(tf.mul(scores(blocks(q), blocks(k), kernel), mask), vb);
    if (g === 1) return tf.slice(tf.reshape(intra, [b!, h!, c, e]), [0, 0, 0, 0], [-1, -1, n!, -1]);
    let qb = blocks(kernel ? kernel.features(q) : q);
    let kb = blocks(kernel ? kernel.features(k) : k);
    const d = qb.shape[4]!;
    if (s) {
      // Key b of a block is exp(-s (c - b)) from the block's end, query a is exp(-s a) past its start.
      kb = tf.mul(kb, tf.reshape(constant(hs, c, 1, (a, i) => Math.exp(-rate(a) * (c - i))), [1, hs, 1, c, 1]));
      qb = tf.mul(qb, tf.reshape(constant(hs, c, 1, (a, i) => Math.exp(-rate(a) * i)), [1, hs, 1, c, 1]));
    }
    // Each block's own state (B, H, G, d*e); the state entering block g is sum_{p<g} exp(-s c)^(g-1-p) KV_p.
    const kv = tf.reshape(tf.matMul(tf.transpose(kb, [0, 1, 2, 4, 3]), vb), [b!, h!, g, d * e]);
    const across = constant(hs, g, g, (a, i, j) => (j < i ? Math.exp(-rate(a) * c * (i - 1 - j)) : 0));
    const state = tf.reshape(tf.matMul(tf.reshape(across, [1, hs, g, g]), kv), [b!, h!, g, d, e]);
    const out = tf.add(intra, tf.matMul(qb, state));
    return tf.slice(tf.reshape(out, [b!, h!, g * c, e]), [0, 0, 0, 0], [-1, -1, n!, -1]);
  });
}

/**
 * Whether the block form costs fewer multiply-adds than the N x N one for N tokens: per head, plain is
 * N^2 (d + e) (scores, then weights times values); blocks of c are N c (d + e) inside blocks plus
 * 2 N D e for the states (keys into states, queries out of them) with D the feature width, so blocks pay
 * from N > c + 2 D e / (d + e) (129 tokens for Lightning's 64-dim heads, ~500 for Based's 273 features).
 */
export function chunkPays(n: number, d: number, e: number, c: number, featureSize = d): boolean {
  return n > c && n > c + (2 * featureSize * e) / (d + e);
}

/** Linear attention on (B, H, N, d) q, k and (B, H, N, e) v (module comment). */
export function linearAttention(q: Tensor, k: Tensor, v: Tensor, opts: LinearAttentionOptions): Tensor {
  checkShapes(q, k, v, opts.slopes);
  if (!opts.causal) {
    if (opts.slopes) throw new Error('linear attention: a decay needs the causal form');
    // (An explicit transpose: matMul's transposeA is ~10x slower on wasm.)
    const phi = (t: Tensor) => (opts.kernel ? opts.kernel.features(t) : t);
    return tf.tidy(() => tf.matMul(phi(q), tf.matMul(tf.transpose(phi(k), [0, 1, 3, 2]), v)));
  }
  const c = Math.max(1, Math.floor(opts.blockSize ?? DEFAULT_LINEAR_ATTENTION_BLOCK));
  const impl = opts.impl ?? 'auto';
  const [n, d] = [q.shape[2]!, q.shape[3]!];
  const chunked = impl === 'chunk' || (impl === 'auto' && chunkPays(n, d, v.shape[3]!, c, opts.kernel?.featureSize(d)));
  return chunked ? causalChunked(q, k, v, c, opts.slopes, opts.kernel) : causalPlain(q, k, v, opts.slopes, opts.kernel);
}
