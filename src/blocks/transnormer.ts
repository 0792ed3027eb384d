/**
 * TransNormer's token mixers (Qin et al., "The Devil in Linear Transformer", EMNLP 2022, arXiv 2210.10340),
 * as the authors' OpenNLPLab/lra @dd871ef code computes them (see docs/families/vit_mixers.md):
 * - NormAttention (`NormLinearAttention`, Sec. 3.1): linear attention phi(Q) (phi(K)^T V) without softmax,
 *   scaling or denominator; a norm of the concatenated heads takes their place (Eq. 9).
 * - DiagAttention (`NormLocalAttention`, Sec. 3.2): attention only inside non-overlapping chunks of c
 *   tokens (block-diagonal), with softmax or an activation plus a norm.
 * Both optionally rotate q and k by LRPE's rotary form (`Lrpe`). Tokens are (B, N, C); the official code
 * runs on (N, B, C), which shows in the batch-axis normalizations of `TransNormerNorm`.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, type Parameter } from '../nn/module.js';
import { BatchNorm2d, Dropout, LayerNorm, Linear } from '../nn/layers.js';
import * as F from '../nn/functional.js';
import { causalDecayMask, linearAttention, type LinearAttentionImpl } from '../kernels/linear_attention.js';
import { mergeHeads, splitHeads } from './attention.js';

/** The feature maps of the lra attention files by name; `leak` uses the module's negative_slope. */
const ACTIVATIONS: Record<string, (x: Tensor, negativeSlope: number) => Tensor> = {
  gelu: (x) => F.gelu(x),
  relu: (x) => tf.relu(x),
  elu: (x) => tf.elu(x),
  sigmoid: (x) => tf.sigmoid(x),
  exp: (x) => tf.exp(x),
  leak: (x, s) => tf.leakyRelu(x, s),
  '1+elu': (x) => tf.add(tf.elu(x), 1),
  '1+relu': (x) => tf.add(tf.relu(x), 1),
  '2+elu': (x) => tf.add(tf.elu(x), 2),
  silu: (x) => F.silu(x),
  relu2: (x) => tf.square(tf.relu(x)),
};

/** NormLinearAttention's table lacks '1+relu' and '2+elu' (NormLocalAttention has them). */
const LINEAR_ONLY_LACKS = new Set(['1+relu', '2+elu']);

/** The activation the official class applies for `name`: any name it does not know is the identity. */
export function transnormerActivation(name: string, cls: 'linear' | 'local', negativeSlope = 0.1): (x: Tensor) => Tensor {
  const f = cls === 'linear' && LINEAR_ONLY_LACKS.has(name) ? undefined : ACTIVATIONS[name];
  return f ? (x) => f(x, negativeSlope) : (x) => x;
}

export type TransNormerNormType = 'layer' | 'batch' | 'synbatch' | 'instance' | 'simplerms' | 'none';
const NORM_TYPES: readonly string[] = ['layer', 'batch', 'synbatch', 'instance', 'simplerms', 'none'];

/**
 * lra's `Normalization(d, _name_=norm_type)` applied, as both attention classes do, to the (N, B, C)
 * sequence-first output: 'layer' is LayerNorm over C (eps 1e-5) and 'batch'/'synbatch' BatchNorm over C
 * (keys `norm.*`), but 'instance' (InstanceNorm1d, no affine) and 'simplerms' (x / (||x|| C^-1/2 + 1e-2))
 * see the transposed (N, C, B) tensor and so normalize each token and channel over the BATCH axis.
 */
export class TransNormerNorm extends Module {
  readonly norm: LayerNorm | BatchNorm2d | null;

  constructor(
    readonly dim: number,
    readonly type: string,
  ) {
    super();
    if (!NORM_TYPES.includes(type)) {
      throw new Error(`TransNormer norm_type '${type}' is not one of ${NORM_TYPES.join(', ')} (the official Normalization raises NotImplementedError)`);
    }
    this.norm = type === 'layer' ? this.add('norm', new LayerNorm(dim)) : type === 'batch' || type === 'synbatch' ? this.add('norm', new BatchNorm2d(dim)) : null;
  }

  /** x (B, N, C). */
  forward(x: Tensor): Tensor {
    if (this.norm) return this.norm.forward(x);
    if (this.type === 'none') return x;
    return tf.tidy(() => {
      if (this.type === 'instance') {
        const { mean, variance } = tf.moments(x, 0, true);
        return tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5)));
      }
      const rms = tf.mul(tf.sqrt(tf.sum(tf.square(x), 0, true)), this.dim ** -0.5);
      return tf.div(x, tf.add(rms, 1e-2));
    });
  }
}

export interface LrpeOptions {
  /** 1: rotary on the first d (even) dims; 2: "mixed", on the first ~d/2. Others are not implemented. */
  coreMatrix?: number;
  /** 1 (identity) only. */
  pMatrix?: number;
  /** 'a': 10000^(-2i/e); 'b': pi/2/L/(e/2) (i+1); 'c': pi/2/L/(i+1), L the sequence length. */
  thetaType?: string;
  /** A learned `theta` (1, 1, d/2) initialized as type 'a' (rotary form 1 only). */
  thetaLearned?: boolean;
}

/**
 * LRPE (Qin et al., "Linearized Relative Positional Encoding", arXiv 2307.09270) in its rotary forms,
 * lra's `Lrpe` with p_matrix 1: pairs (x_2i, x_2i+1) of the first e dims rotate by position * theta_i,
 * position counted along the second-to-last axis. Keys: `theta` when learned.
 */
export class Lrpe extends Module {
  readonly theta: Parameter | null;
  readonly rotated: number;
  readonly thetaType: string;

  constructor(
    readonly dim: number,
    opts: LrpeOptions = {},
  ) {
    super();
    const core = opts.coreMatrix ?? 1;
    if ((opts.pMatrix ?? 1) !== 1) throw new Error(`LRPE: p_matrix ${opts.pMatrix} is not implemented in vizoo (p_matrix 1, the identity, is)`);
    if (core !== 1 && core !== 2) throw new Error(`LRPE: core_matrix ${core} is not implemented in vizoo (the rotary forms 1 and 2 are)`);
    if (core === 2 && opts.thetaLearned) throw new Error('LRPE: a learned theta exists only for core_matrix 1 (the official mixed form then fails on the missing parameter)');
    if (core === 2 && dim < 3) throw new Error(`LRPE: the mixed rotary form needs a head dim of at least 3, got ${dim}`);
    this.thetaType = opts.thetaType ?? 'a';
    if (!['a', 'b', 'c'].includes(this.thetaType)) throw new Error(`LRPE: theta_type '${this.thetaType}' is not one of a, b, c`);
    const half = Math.floor(dim / 2);
    this.rotated = core === 1 ? 2 * half : half + (half % 2);
    const start = (shape: readonly number[]) => Float32Array.from({ length: shape[2]! }, (_, i) => 10000 ** ((-2 / dim) * i));
    this.theta = opts.thetaLearned ? this.param('theta', [1, 1, half], start) : null;
  }

  /** Frequencies (e/2) for a sequence of `len` tokens. */
  private frequencies(len: number): Tensor {
    if (this.theta) return tf.reshape(this.theta.value, [-1]);
    const e = this.rotated;
    const f = Float32Array.from({ length: e / 2 }, (_, i) => {
      if (this.thetaType === 'a') return 10000 ** ((-2 / e) * i);
      if (this.thetaType === 'b') return Math.PI / 2 / len / (e / 2) * (i + 1);
      return Math.PI / 2 / len / (i + 1);
    });
    return tf.tensor1d(f);
  }

  /** x (..., L, d) -> the same shape, positions 0..L-1 along axis -2. */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const len = x.shape[x.rank - 2]!;
      const e = this.rotated;
      const freq = this.frequencies(len);
      // angle[p, 2i] = angle[p, 2i+1] = p * theta_i.
      const pairs = tf.reshape(tf.stack([freq, freq], 1), [1, e]);
      const angle = tf.matMul(tf.reshape(tf.range(0, len, 1, 'float32'), [len, 1]), pairs);
      const head = e === this.dim ? x : tf.slice(x, x.shape.map(() => 0), [...x.shape.slice(0, -1), e]);
      // (x_2i, x_2i+1) -> (-x_2i+1, x_2i) as a constant e x e matmul.
      const swap = new Float32Array(e * e);
      for (let i = 0; i < e; i += 2) {
        swap[(i + 1) * e + i] = -1;
        swap[i * e + i + 1] = 1;
      }
      const lead = head.shape.slice(0, -1);
      const half = tf.reshape(tf.matMul(tf.reshape(head, [-1, e]), tf.tensor2d(swap, [e, e])), [...lead, e]);
      const out = tf.add(tf.mul(head, tf.cos(angle)), tf.mul(half, tf.sin(angle)));
      if (e === this.dim) return out;
      return tf.concat([out, tf.slice(x, [...x.shape.slice(0, -1).map(() => 0), e], [...x.shape.slice(0, -1), this.dim - e])], -1);
    });
  }
}

interface ProjectionOptions {
  /** Biases of the q/k/v/out projections (True). */
  bias?: boolean;
  /** Rotate q and k by LRPE (False). */
  useLrpe?: boolean;
  lrpe?: LrpeOptions;
  /** Slope of the 'leak' activation (0.1). */
  negativeSlope?: number;
}

export interface NormLinearAttentionOptions extends ProjectionOptions {
  /** Feature map of q and k ('elu'; TransNormer uses '1+elu'). Unknown names are the identity, as there. */
  actFun?: string;
  /** The output norm ('layernorm', the official default, raises; 'layer' is LayerNorm). */
  normType?: string;
  causal?: boolean;
  /** Causal form: `plain` (masked N x N scores, the official), `chunk`, or `auto`. */
  impl?: LinearAttentionImpl;
  blockSize?: number;
}

/**
 * TransNormer's NormAttention, `NormLinearAttention`: O = phi(Q) (phi(K)^T V) per head (causal:
 * tril(phi(Q) phi(K)^T) V, diagonal kept), heads concatenated, then `layer_norm` over C and `out_proj`.
 * Keys k_proj, q_proj, v_proj, layer_norm.norm.*, [lrpe.theta], out_proj.
 */
export class NormLinearAttention extends Module {
  readonly k_proj: Linear;
  readonly q_proj: Linear;
  readonly v_proj: Linear;
  readonly layer_norm: TransNormerNorm;
  readonly lrpe: Lrpe | null;
  readonly out_proj: Linear;
  readonly causal: boolean;
  private readonly act: (x: Tensor) => Tensor;

  constructor(
    readonly dModel: number,
    readonly nHeads: number,
    readonly opts: NormLinearAttentionOptions = {},
  ) {
    super();
    checkHeads('NormLinearAttention', dModel, nHeads);
    const bias = opts.bias ?? true;
    this.k_proj = this.add('k_proj', new Linear(dModel, dModel, { bias }));
    this.q_proj = this.add('q_proj', new Linear(dModel, dModel, { bias }));
    this.v_proj = this.add('v_proj', new Linear(dModel, dModel, { bias }));
    this.layer_norm = this.add('layer_norm', new TransNormerNorm(dModel, opts.normType ?? 'layernorm'));
    this.lrpe = opts.useLrpe ? this.add('lrpe', new Lrpe(dModel / nHeads, opts.lrpe)) : null;
    this.out_proj = this.add('out_proj', new Linear(dModel, dModel, { bias }));
    this.causal = opts.causal ?? false;
    this.act = transnormerActivation(opts.actFun ?? 'elu', 'linear', opts.negativeSlope ?? 0.1);
  }

  /** x (B, N, C) -> (B, N, C). */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const heads = (p: Linear, act: boolean) => {
        const t = splitHeads(p.forward(x), this.nHeads);
        const a = act ? this.act(t) : t;
        return act && this.lrpe ? this.lrpe.forward(a) : a;
      };
      const o = linearAttention(heads(this.q_proj, true), heads(this.k_proj, true), heads(this.v_proj, false), {
        causal: this.causal,
        impl: this.opts.impl,
        blockSize: this.opts.blockSize,
      });
      return this.out_proj.forward(this.layer_norm.forward(mergeHeads(o)));
    });
  }
}

export interface NormLocalAttentionOptions extends ProjectionOptions {
  /** Tokens per chunk (32). */
  chunkSize?: number;
  /** Softmax over each chunk's scaled logits (False: `actFun` of them, then the norm). */
  useSoftmax?: boolean;
  /** Activation when not using softmax ('relu'). */
  actFun?: string;
  /** Norm after the non-softmax path ('gatedrmsnorm', the official default, raises; 'none' with softmax). */
  normType?: string;
  /** Zero the weights above each chunk's diagonal AFTER the softmax, without renormalizing. */
  causal?: boolean;
  /** Creates the unused `bias_k` / `bias_v` (1, 1, C) parameters, as the official does. */
  addBiasKv?: boolean;
  /** Dropout on the chunk weights in training (0). */
  dropout?: number;
}

/**
 * TransNormer's DiagAttention, `NormLocalAttention`: q (scaled by d^-1/2 after its bias), k and v are
 * zero-padded to whole chunks AFTER projection, and each chunk attends to itself only. The padded keys are
 * NOT masked (logit 0, value 0: they only enlarge the last chunk's softmax denominator), as in the
 * official code. Keys [bias_k, bias_v], k_proj, v_proj, q_proj, out_proj, normalize.norm.*, [lrpe.theta].
 */
export class NormLocalAttention extends Module {
  readonly bias_k: Parameter | null;
  readonly bias_v: Parameter | null;
  readonly k_proj: Linear;
  readonly v_proj: Linear;
  readonly q_proj: Linear;
  readonly out_proj: Linear;
  readonly normalize: TransNormerNorm;
  readonly lrpe: Lrpe | null;
  readonly chunkSize: number;
  readonly useSoftmax: boolean;
  readonly causal: boolean;
  private readonly act: (x: Tensor) => Tensor;
  private readonly dropout: Dropout;

  constructor(
    readonly dModel: number,
    readonly nHeads: number,
    opts: NormLocalAttentionOptions = {},
  ) {
    super();
    checkHeads('NormLocalAttention', dModel, nHeads);
    const bias = opts.bias ?? true;
    this.dropout = this.add('dropout_module', new Dropout(opts.dropout ?? 0));
    this.k_proj = this.add('k_proj', new Linear(dModel, dModel, { bias }));
    this.v_proj = this.add('v_proj', new Linear(dModel, dModel, { bias }));
    this.q_proj = this.add('q_proj', new Linear(dModel, dModel, { bias }));
    this.out_proj = this.add('out_proj', new Linear(dModel, dModel, { bias }));
    this.normalize = this.add('normalize', new TransNormerNorm(dModel, opts.normType ?? 'gatedrmsnorm'));
    const unused = (shape: readonly number[]) => new Float32Array(shape.reduce((a, b) => a * b, 1));
    this.bias_k = opts.addBiasKv ? this.param('bias_k', [1, 1, dModel], unused) : null;
    this.bias_v = opts.addBiasKv ? this.param('bias_v', [1, 1, dModel], unused) : null;
    this.lrpe = opts.useLrpe ? this.add('lrpe', new Lrpe(dModel / nHeads, opts.lrpe)) : null;
    this.chunkSize = opts.chunkSize ?? 32;
    if (!Number.isInteger(this.chunkSize) || this.chunkSize < 1) throw new Error(`NormLocalAttention: chunk_size must be a positive integer, got ${this.chunkSize}`);
    this.useSoftmax = opts.useSoftmax ?? false;
    this.causal = opts.causal ?? false;
    this.act = transnormerActivation(opts.actFun ?? 'relu', 'local', opts.negativeSlope ?? 0.1);
  }

  /** x (B, N, C) -> the output (B, N, C) and the chunk weights (B*H, G, c, c), padded rows and columns included. */
  forwardWithWeights(x: Tensor): { out: Tensor; weights: Tensor } {
    return tf.tidy(() => {
      const [b, n, c] = x.shape as [number, number, number];
      const h = this.nHeads;
      const d = c / h;
      const size = this.chunkSize;
      const g = Math.ceil(n / size);
      const pad = g * size - n;
      // Heads, then chunks: (B, N, C) -> (B, H, G, size, d), zero rows appended after the projections.
      const chunks = (t: Tensor, rotate: boolean) => {
        const p = pad ? tf.pad(t, [[0, 0], [0, pad], [0, 0]]) : t;
        const y = tf.reshape(splitHeads(p, h), [b, h, g, size, d]);
        return rotate && this.lrpe ? this.lrpe.forward(y) : y;
      };
      const q = chunks(tf.mul(this.q_proj.forward(x), d ** -0.5), true);
      const k = chunks(this.k_proj.forward(x), true);
      const v = chunks(this.v_proj.forward(x), false);
      const logits = tf.matMul(q, k, false, true);
      let weights = this.useSoftmax ? tf.softmax(logits) : this.act(logits);
      if (this.causal) weights = tf.mul(weights, causalDecayMask(size));
      const o = tf.matMul(this.dropout.forward(weights), v);
      const merged = mergeHeads(tf.reshape(o, [b, h, g * size, d]));
      let y = pad ? tf.slice(merged, [0, 0, 0], [b, n, c]) : merged;
      if (!this.useSoftmax) y = this.normalize.forward(y);
      return { out: this.out_proj.forward(y), weights: tf.reshape(weights, [b * h, g, size, size]) };
    });
  }

  /** x (B, N, C) -> (B, N, C). */
  forward(x: Tensor): Tensor {
    const { out, weights } = this.forwardWithWeights(x);
    weights.dispose();
    return out;
  }
}

function checkHeads(cls: string, dim: number, heads: number): void {
  if (!Number.isInteger(heads) || heads < 1 || dim % heads) throw new Error(`${cls}: d_model ${dim} is not divisible by ${heads} heads`);
}
