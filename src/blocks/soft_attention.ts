/**
 * SOFT: softmax-free attention (Lu et al., "SOFT: Softmax-free Transformer with Linear Complexity",
 * NeurIPS 2021; "Softmax-free Linear Transformers", IJCV 2024), official code fudan-zvg/SOFT @d3febc3
 * `models/softmax_free_transformer.py` (torch kernel path).
 *
 * The softmax is replaced by a Gaussian kernel exp(-||q - k||^2 / 2) with keys = queries (K = Q), made
 * linear by the Nystrom approximation K1 K2^+ K1^T over m landmarks (a strided conv of the query map),
 * where the pseudo-inverse K2^+ comes from Newton-Raphson iterations (Eq. 11-12). A depthwise conv of V
 * adds local detail. SOFT-Norm symmetrically normalises the inverse by the landmark degrees.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { Module, Sequential, type Layer } from '../nn/module.js';
import { Conv2d, Dropout, GELU, LayerNorm, Linear } from '../nn/layers.js';
import { mergeHeads, splitHeads } from './attention.js';
import { inferenceShortcut } from '../kernels/inference.js';
import { NEWTON_STEPS, NORM_HALVING, newtonSteps, normHalvingFused } from '../kernels/newton_inverse.js';

/** exp(-||a_i - b_j||^2 / 2) over the last axis, as ||a||^2 + ||b||^2 - 2 a.b (the official torch path). */
export function gaussianKernel(a: Tensor, b: Tensor): Tensor {
  return tf.tidy(() => {
    const aa = tf.sum(tf.square(a), -1, true);
    const bb = tf.expandDims(tf.sum(tf.square(b), -1), -2);
    const d2 = tf.sub(tf.add(aa, bb), tf.mul(tf.matMul(a, b, false, true), 2));
    return tf.exp(tf.mul(d2, -0.5));
  });
}

function eyeLike(m: Tensor): Tensor {
  const n = m.shape[m.shape.length - 1]!;
  return tf.eye(n);
}

/**
 * `newton_inv` of SOFT/kernel/inverse.py on (..., m, m): alpha = 0.9 * 2 / (max row sum)^2 per matrix,
 * P = K + 0.01 I, V0 = alpha P, `iters` steps of V <- 2V - V P V, i.e. ~(K + 0.01 I)^-1. The gradient is
 * the official one, -V^T dY V^T (V treated as the exact inverse); the iterations are not differentiated.
 * In inference the steps are one kernel (kernels/newton_inverse.ts).
 */
export function newtonInverse(mat: Tensor, iters = 20): Tensor {
  const op = tf.customGrad(((m: Tensor, save: tf.GradSaveFunc) => {
    const v = tf.tidy(() => {
      const rowMax = tf.max(tf.sum(m, -1), -1);
      const alpha = tf.expandDims(tf.expandDims(tf.div(1.8, tf.square(rowMax)), -1), -1);
      const p = tf.add(m, tf.mul(eyeLike(m), 0.01));
      let x = tf.mul(alpha, p);
      if (inferenceShortcut(NEWTON_STEPS)) return newtonSteps(x, p, iters);
      for (let i = 0; i < iters; i++) {
        const next = tf.sub(tf.mul(x, 2), tf.matMul(tf.matMul(x, p), x));
        x.dispose();
        x = next;
      }
      return x;
    });
    save([v]);
    return {
      value: v,
      gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => [tf.neg(tf.matMul(tf.matMul(saved[0]!, dy as Tensor, true, false), saved[0]!, false, true))],
    };
  }) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (m: Tensor) => Tensor;
  return op(mat);
}

/**
 * How many times SOFT-Norm halves alpha: the official loop halves while pnorm(alpha) > 1.01, at most 10
 * times, with pnorm(a) = max over the whole batch of column sums of |I - P (a P)|. Evaluated for all 10
 * candidates at once without reading back (no host sync); piecewise constant, hence a zero gradient. In
 * inference, one kernel (kernels/newton_inverse.ts) tries them in order.
 */
export const normHalvingFactor = tf.customGrad(((alpha0: Tensor, p: Tensor) => {
  const factor = tf.tidy(() => {
    const eye = eyeLike(p);
    const pp = tf.matMul(p, p);
    const stops: Tensor[] = [];
    for (let k = 0; k < 10; k++) {
      const a = tf.mul(alpha0, 0.5 ** k);
      const pnorm = tf.max(tf.sum(tf.abs(tf.sub(eye, tf.mul(a, pp))), -2));
      // k if the loop stops here (pnorm <= 1.01), 10 otherwise.
      stops.push(tf.where(tf.lessEqual(pnorm, 1.01), tf.scalar(k), tf.scalar(10)));
    }
    return tf.pow(tf.scalar(0.5), tf.min(tf.stack(stops)));
  });
  return { value: factor, gradFunc: () => [tf.zerosLike(alpha0), tf.zerosLike(p)] };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (alpha0: Tensor, p: Tensor) => Tensor;

/**
 * SOFT-Norm's `newton_inv` followed by the symmetric normalisation D^-1/2 V D^-1/2 with D = row sums of K.
 * alpha = 2 / (max row sum over the whole batch)^2, halved as `normHalvingFactor`; P = K (no ridge);
 * `iters` Newton steps; all differentiated by autodiff as the official plain PyTorch code is. alpha is
 * batch-global, so the images of a batch are coupled, as officially. In inference the halving test and the
 * steps are a kernel each.
 */
export function newtonInverseNormalized(mat: Tensor, iters = 20): Tensor {
  return tf.tidy(() => {
    const alpha0 = tf.div(2, tf.square(tf.max(tf.sum(mat, -1))));
    const factor = inferenceShortcut(NORM_HALVING) ? normHalvingFused(alpha0, mat) : normHalvingFactor(alpha0, mat);
    const alpha = tf.mul(alpha0, factor);
    let v = tf.mul(alpha, mat);
    if (inferenceShortcut(NEWTON_STEPS)) v = newtonSteps(v, mat, iters);
    else for (let i = 0; i < iters; i++) v = tf.sub(tf.mul(v, 2), tf.matMul(tf.matMul(v, mat), v));
    const d = tf.rsqrt(tf.sum(mat, -1, true));
    const dT = tf.reshape(d, [...d.shape.slice(0, -2), 1, d.shape[d.shape.length - 2]!]);
    return tf.mul(tf.mul(d, v), dT);
  });
}

/** `SoftmaxFreeAttentionKernel` (key `attn`): landmarks, Gaussian kernels, Newton inverse, V conv. */
export class SoftmaxFreeAttentionKernel extends Module {
  readonly headDim: number;
  readonly Qlandmark_op: Conv2d;
  readonly Qnorm_act: Sequential;
  readonly conv: Conv2d | null;

  constructor(
    dim: number,
    readonly numHeads: number,
    readonly ratio: number,
    readonly convSize: number,
    readonly maxIter = 20,
    readonly normalized = false,
  ) {
    super();
    this.headDim = Math.trunc(dim / numHeads);
    if (ratio === 1) throw new Error('SOFT attention with ratio 1 is dead code in the official repo (undefined num_landmarks)');
    const d = this.headDim;
    this.Qlandmark_op = this.add('Qlandmark_op', new Conv2d(d, d, ratio, { stride: ratio, bias: false }));
    this.Qnorm_act = this.add('Qnorm_act', new Sequential(new LayerNorm(d), new GELU()));
    this.conv = convSize ? this.add('conv', new Conv2d(numHeads, numHeads, convSize, { padding: Math.floor(convSize / 2), groups: numHeads, bias: false })) : null;
  }

  /** q, v: (B, heads, N = H*W, d) -> (B, heads, N, d). */
  forward(q: Tensor, v: Tensor, H: number, W: number): Tensor {
    return tf.tidy(() => {
      const [b, nh, n, d] = q.shape as [number, number, number, number];
      if (H < this.ratio || W < this.ratio) throw new Error(`SOFT attention: a ${H}x${W} map has no ${this.ratio}x${this.ratio} landmark`);
      const qs = tf.div(q, Math.sqrt(Math.sqrt(d)));
      // Landmarks: the (scaled) query map of every (image, head), channels = head_dim, conv shared by heads.
      const lm = this.Qlandmark_op.forward(tf.reshape(qs, [b * nh, H, W, d]));
      const landmarks = this.Qnorm_act.forward(tf.reshape(lm, [b, nh, -1, d]));
      const k1 = gaussianKernel(qs, landmarks);
      const k2 = gaussianKernel(landmarks, landmarks);
      const inv = this.normalized ? newtonInverseNormalized(k2, this.maxIter) : newtonInverse(k2, this.maxIter);
      // K1 K2^+ K1^T V. The official code multiplies (K1 K2^+) (K1^T V), an N x m x m product; the same
      // value as K1 (K2^+ (K1^T V)) (N x m x d), which is cheaper whenever d < N: m = N / ratio^2 grows
      // with the input, and at 448px this association halves the time of stage 1.
      let x = tf.matMul(k1, tf.matMul(inv, tf.matMul(k1, v, true, false)));
      if (this.conv) {
        // Depthwise k x k conv over each head's V map, one kernel per head shared over head_dim (heads are
        // the conv channels, head_dim folds into the batch).
        const vm = tf.reshape(tf.transpose(v, [0, 3, 2, 1]), [b * d, H, W, nh]);
        const c = tf.reshape(this.conv.forward(vm), [b, d, n, nh]);
        x = tf.add(x, tf.transpose(c, [0, 3, 2, 1]));
      }
      return x;
    });
  }
}

/** `SoftmaxFreeAttention` (key `mha`): W_q, W_v (no key projection: K = Q), kernel attention, ff. */
export class SoftmaxFreeAttention extends Module {
  readonly headDim: number;
  readonly W_q: Linear;
  readonly W_v: Linear;
  readonly attn: SoftmaxFreeAttentionKernel;
  readonly ff: Linear;

  constructor(
    readonly dim: number,
    readonly numHeads: number,
    ratio: number,
    convSize: number,
    maxIter = 20,
    normalized = false,
  ) {
    super();
    this.headDim = Math.trunc(dim / numHeads);
    const inner = numHeads * this.headDim;
    this.W_q = this.add('W_q', new Linear(dim, inner));
    this.W_v = this.add('W_v', new Linear(dim, inner));
    this.attn = this.add('attn', new SoftmaxFreeAttentionKernel(dim, numHeads, ratio, convSize, maxIter, normalized));
    this.ff = this.add('ff', new Linear(inner, dim));
  }

  /** x (B, H, W, C) -> (B, H, W, C). */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [b, H, W] = x.shape as [number, number, number];
      const tokens = (t: Tensor) => splitHeads(tf.reshape(t, [b, H * W, -1]), this.numHeads);
      const o = this.attn.forward(tokens(this.W_q.forward(x)), tokens(this.W_v.forward(x)), H, W);
      return tf.reshape(this.ff.forward(mergeHeads(o)), [b, H, W, this.dim]);
    });
  }
}

/** tanh-approximated GELU of SOFT (`Approx_GeLU`). */
const approxGelu = () => new GELU('tanh');

/**
 * `SoftmaxFreeTransformer` (key `att`), post-norm: y = LN1(x + mha(x)); out = LN2(y + ff2(gelu_tanh(ff1(y)))).
 * The hidden width is always 4C (the model's mlp_ratios do not reach these blocks). The dropouts have p =
 * the drop-path rate (plain element dropout).
 */
export class SoftmaxFreeTransformer extends Module implements Layer {
  readonly mha: SoftmaxFreeAttention;
  readonly dropout1: Dropout;
  readonly norm1: LayerNorm;
  readonly ff1: Linear;
  readonly act: GELU;
  readonly ff2: Linear;
  readonly dropout2: Dropout;
  readonly norm2: LayerNorm;

  constructor(dim: number, numHeads: number, ratio: number, convSize: number, opts: { dropPath?: number; maxIter?: number; normalized?: boolean } = {}) {
    super();
    this.mha = this.add('mha', new SoftmaxFreeAttention(dim, numHeads, ratio, convSize, opts.maxIter ?? 20, opts.normalized ?? false));
    this.dropout1 = this.add('dropout1', new Dropout(opts.dropPath ?? 0));
    this.norm1 = this.add('norm1', new LayerNorm(dim));
    this.ff1 = this.add('ff1', new Linear(dim, 4 * dim));
    this.act = this.add('act', approxGelu());
    this.ff2 = this.add('ff2', new Linear(4 * dim, dim));
    this.dropout2 = this.add('dropout2', new Dropout(opts.dropPath ?? 0));
    this.norm2 = this.add('norm2', new LayerNorm(dim));
  }

  /** x (B, H, W, C) -> (B, H, W, C). */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = this.norm1.forward(tf.add(x, this.dropout1.forward(this.mha.forward(x))));
      const f = this.ff2.forward(this.act.forward(this.ff1.forward(y)));
      return this.norm2.forward(tf.add(y, this.dropout2.forward(f)));
    });
  }
}

/** `SoftmaxFreeTransformerBlock` / `SoftmaxFreeNormTransformerBlock`: a wrapper, key `att`. */
export class SoftmaxFreeTransformerBlock extends Module implements Layer {
  readonly att: SoftmaxFreeTransformer;

  constructor(dim: number, numHeads: number, ratio: number, convSize = 3, opts: { dropPath?: number; maxIter?: number; normalized?: boolean } = {}) {
    super();
    this.att = this.add('att', new SoftmaxFreeTransformer(dim, numHeads, ratio, convSize, opts));
  }

  forward(x: Tensor): Tensor {
    return this.att.forward(x as Tensor4D);
  }
}
