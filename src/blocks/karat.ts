/**
 * Fourier-KArAt: learnable Kolmogorov-Arnold attention (Maity, Hitsman, Li, Dutta; "Kolmogorov-Arnold
 * Attention: Is Learnable Attention Better For Vision Transformers?", arXiv:2503.10632v3).
 *
 * NAIVE REFERENCE: no official code was public when this was written; the operator follows the paper's
 * Eq. 2 and Algorithms 1-2, and the parameter names and layouts (`coeff`, `proj_weight`, `karat_shared.*`)
 * are vizoo's reference reading of the paper (docs/families/karat.md), not an official release.
 *
 * In every head the row-softmax of the scores A (N x N) is replaced by a learned map of each row a:
 * Phi_p(a) = sum_q sum_{m=1..G} [c0_pqm cos(m a_q) + c1_pqm sin(m a_q)] (p = 1..r, Eq. 2, no base
 * activation), then sigma(a) = W Phi(a) with W (N x r): a low-rank operator from R^N to R^N. An optional
 * l1 step projects each resulting row onto the probability simplex (the paper disables it).
 */
import { tf, type Tensor } from '../tf.js';
import { Module, type Parameter } from '../nn/module.js';
import { Dropout, Linear } from '../nn/layers.js';
import { normal, uniform } from '../nn/init.js';
import { ViTBlock, mergeHeads, splitPartsHeads } from './attention.js';
import { sinCos } from '../kernels/sincos.js';
import { inferenceShortcut } from '../kernels/inference.js';
import { FOURIER_FEATURES, fourierFeatures } from '../kernels/fourier_features.js';

/**
 * Euclidean projection of every row (last axis) onto the probability simplex (Condat; the paper's
 * Algorithm 1): sort descending, rho = max{i : u_i - (sum_{j<=i} u_j - 1)/i > 0}, lambda = (sum_{i<=rho} u_i
 * - 1)/rho, x = max(y - lambda, 0). Gradient: on the support S, dy -> dy - mean_S(dy); zero elsewhere.
 */
export const simplexProjection = tf.customGrad(((y: Tensor, save: tf.GradSaveFunc) => {
  const x = tf.tidy(() => {
    const n = y.shape[y.shape.length - 1]!;
    const u = tf.topk(y, n, true).values;
    // 2-D cumsum: tfjs mishandles a negative axis, and wasm's Cumsum fails on the last axis of rank > 2.
    const css = tf.reshape(tf.cumsum(tf.reshape(u, [-1, n]), 1), u.shape);
    const idx = tf.range(1, n + 1, 1, 'float32');
    // 1 where the condition holds (a prefix of the sorted row), 0 elsewhere.
    const holds = tf.cast(tf.greater(tf.sub(u, tf.div(tf.sub(css, 1), idx)), 0), 'float32');
    const rho = tf.max(tf.mul(holds, idx), -1, true);
    const cssRho = tf.sum(tf.mul(css, tf.cast(tf.equal(idx, rho), 'float32')), -1, true);
    return tf.relu(tf.sub(y, tf.div(tf.sub(cssRho, 1), rho)));
  });
  save([x]);
  return {
    value: x,
    gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
      const support = tf.cast(tf.greater(saved[0]!, 0), 'float32');
      const g = tf.mul(dy as Tensor, support);
      const mean = tf.div(tf.sum(g, -1, true), tf.sum(support, -1, true));
      return [tf.mul(tf.sub(g, mean), support)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (y: Tensor) => Tensor;

export interface KArAtOptions {
  /** r: rank of the low-rank operator (paper default 12). */
  rank?: number;
  /** G: Fourier grid size, frequencies 1..G. */
  gridSize?: number;
  /** Project each attention row onto the simplex (Algorithm 1); off in every reported model. */
  l1Proj?: boolean;
}

/** The Fourier-KArAt operator of all heads of one attention layer: (B, heads, N, N) -> (B, heads, N, N). */
export class FourierKArAtOperator extends Module {
  /** (2, heads, r, N, G): [0] cosine and [1] sine coefficients, last axis frequency m-1. */
  readonly coeff: Parameter;
  /** (heads, N, r): W of every head. */
  readonly proj_weight: Parameter;
  readonly rank: number;
  readonly gridSize: number;
  readonly l1Proj: boolean;

  constructor(
    readonly numHeads: number,
    readonly numTokens: number,
    opts: KArAtOptions = {},
  ) {
    super();
    this.rank = opts.rank ?? 12;
    this.gridSize = opts.gridSize ?? 3;
    this.l1Proj = opts.l1Proj ?? false;
    this.coeff = this.param('coeff', [2, numHeads, this.rank, numTokens, this.gridSize], normal(1));
    const b = 1 / Math.sqrt(this.rank);
    this.proj_weight = this.param('proj_weight', [numHeads, numTokens, this.rank], uniform(-b, b));
  }

  forward(scores: Tensor): Tensor {
    return tf.tidy(() => {
      const [B, h, N, N2] = scores.shape as [number, number, number, number];
      const { rank: r, gridSize: G } = this;
      if (h !== this.numHeads || N !== this.numTokens || N2 !== N) {
        throw new Error(`KArAt operator for ${this.numHeads} heads x ${this.numTokens} tokens got scores [${scores.shape}] (the token count is fixed by the weights)`);
      }
      const permute = () => [tf.reshape(tf.transpose(this.coeff.value, [1, 0, 4, 3, 2]), [h, 2 * G * N, r])];
      // Inference reuses the permuted coefficients until they change.
      const [c] = inferenceShortcut() ? this.derived('coefficients', [this.coeff.value], permute) : permute();
      const phi = tf.matMul(this.rowFeatures(scores), c!);
      const s = tf.matMul(phi, this.proj_weight.value, false, true);
      const out = tf.transpose(tf.reshape(s, [h, B, N, N]), [1, 0, 2, 3]);
      return this.l1Proj ? simplexProjection(out) : out;
    });
  }

  /**
   * Row features per head (h, B*N, 2*G*N) ordered (cos|sin, m, q): cos(m a), sin(m a) for m = 1..G of every
   * score a. The coefficients are permuted to match, (2, h, r, q, m) -> (h, cos|sin, m, q, r).
   */
  private rowFeatures(scores: Tensor): Tensor {
    const G = this.gridSize;
    if (scores.dtype === 'float32' && inferenceShortcut(FOURIER_FEATURES)) return fourierFeatures(scores, G);
    return tf.tidy(() => {
      const [B, h, N] = scores.shape as [number, number, number, number];
      // From one accurate sin/cos by the angle-addition recurrences c_{m+1} = 2 c_1 c_m - c_{m-1},
      // s_{m+1} = 2 c_1 s_m - s_{m-1} (c_0 = 1, s_0 = 0).
      const flat = tf.reshape(scores, [-1, 1]);
      const [s1, c1] = sinCos(flat);
      const cs = [c1];
      const ss = [s1];
      const twoC1 = tf.mul(c1, 2);
      for (let m = 1; m < G; m++) {
        cs.push(m === 1 ? tf.sub(tf.mul(twoC1, c1), 1) : tf.sub(tf.mul(twoC1, cs[m - 1]!), cs[m - 2]!));
        ss.push(m === 1 ? tf.mul(twoC1, s1) : tf.sub(tf.mul(twoC1, ss[m - 1]!), ss[m - 2]!));
      }
      // Stacking whole maps is one contiguous copy per map: tfjs-wasm concatenates along inner axes element by element.
      const maps = tf.concat([...cs, ...ss].map((t) => tf.reshape(t, [1, B, h, N, N])), 0);
      return tf.reshape(tf.transpose(maps, [2, 1, 3, 0, 4]), [h, B * N, 2 * G * N]);
    });
  }
}

/**
 * Multi-head self-attention with KArAt in place of the softmax. `shared` is the model's universal operator
 * (not registered here, so its keys stay `karat_shared.*`); without it the layer owns `karat.*`.
 */
export class KArAtAttention extends Module {
  readonly qkv: Linear;
  readonly attn_drop: Dropout;
  readonly karat: FourierKArAtOperator | null;
  readonly proj: Linear;
  readonly proj_drop: Dropout;
  readonly scale: number;

  constructor(
    readonly dim: number,
    readonly numHeads: number,
    numTokens: number,
    opts: KArAtOptions & { qkvBias?: boolean; attnDrop?: number; projDrop?: number; shared?: FourierKArAtOperator } = {},
  ) {
    super();
    if (dim % numHeads) throw new Error(`KArAt attention: dim ${dim} is not divisible by ${numHeads} heads`);
    this.scale = (dim / numHeads) ** -0.5;
    this.qkv = this.add('qkv', new Linear(dim, 3 * dim, { bias: opts.qkvBias ?? false }));
    this.attn_drop = this.add('attn_drop', new Dropout(opts.attnDrop ?? 0));
    this.karat = opts.shared ? null : this.add('karat', new FourierKArAtOperator(numHeads, numTokens, opts));
    this.sharedOp = opts.shared ?? null;
    this.proj = this.add('proj', new Linear(dim, dim));
    this.proj_drop = this.add('proj_drop', new Dropout(opts.projDrop ?? 0));
  }

  private readonly sharedOp: FourierKArAtOperator | null;

  get operator(): FourierKArAtOperator {
    return (this.karat ?? this.sharedOp)!;
  }

  /** x (B, N, C) -> (B, N, C). */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [q, k, v] = splitPartsHeads(this.qkv.forward(x), 3, this.numHeads) as [Tensor, Tensor, Tensor];
      const scores = tf.matMul(tf.mul(q, this.scale), k, false, true);
      const a = this.attn_drop.forward(this.operator.forward(scores));
      return this.proj_drop.forward(this.proj.forward(mergeHeads(tf.matMul(a, v))));
    });
  }
}

/** Pre-norm ViT block with KArAt attention: x + attn(LN(x)), x + Mlp(LN(x)). */
export class KArAtBlock extends ViTBlock<KArAtAttention> {
  constructor(dim: number, numHeads: number, numTokens: number, opts: KArAtOptions & { mlpRatio?: number; qkvBias?: boolean; drop?: number; normEps?: number; shared?: FourierKArAtOperator } = {}) {
    super(dim, new KArAtAttention(dim, numHeads, numTokens, { ...opts, projDrop: opts.drop }), { mlpRatio: opts.mlpRatio, drop: opts.drop, normEps: opts.normEps ?? 1e-6 });
  }
}
