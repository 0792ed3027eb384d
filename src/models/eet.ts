/**
 * EET: "Rethinking Vision Transformer for Large-Scale Fine-Grained Image Retrieval" (Jiang, Tang, Pan, Li;
 * arXiv 2504.16691, IEEE TMM), official code WhiteJiang/EET@19b8442 `model/vit.py` (docs/families/eet.md).
 * A DeiT-style ViT whose blocks also score every patch token (CLS attention x normalized per-head output
 * norm, #token-score); after blocks 3, 7 and 9 only the top 98, 49 and 12 tokens are kept, reordered by score
 * (#pruning). A hash head maps the class logits to `hash_code` continuous bits whose sign is the retrieval
 * code. The teacher is the same network without pruning.
 * Kept-token counts come from the static config, so shapes never depend on data.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, ModuleList, type Parameter } from '../nn/module.js';
import { Dropout, DropPath, dropPathSchedule, Identity, LayerNorm, Linear } from '../nn/layers.js';
import { truncNormal } from '../nn/init.js';
import { vitInit } from '../nn/init_schemes.js';
import { stopGradient } from '../nn/functional.js';
import { Mlp, splitPartsHeads } from '../blocks/attention.js';
import { inferenceShortcut } from '../kernels/inference.js';
import { TOKEN_SCORE, tokenScore } from '../kernels/token_score.js';
import { type Size2, ViTPatchEmbed } from '../blocks/patch_embed.js';
import { Backbone, type FeatureInfo, type InputSizeSupport, type PositionEmbedding } from './backbone.js';
import { type ModelOptions, type PretrainedConfig, imageSize, imagenetConfig, registerModel, stageDepths } from './registry.js';

/** Multi-head self-attention that also returns EET's token importance score (B, N-1) (docs/families/eet.md#token-score). */
export class EETAttention extends Module {
  readonly qkv: Linear;
  readonly attnDrop: Dropout;
  readonly proj: Linear;
  readonly projDrop: Dropout;
  readonly headDim: number;
  readonly scale: number;

  constructor(
    readonly dim: number,
    readonly numHeads = 8,
    qkvBias = false,
    qkScale: number | null = null,
    attnDrop = 0,
    projDrop = 0,
  ) {
    super();
    this.headDim = Math.floor(dim / numHeads);
    this.scale = qkScale ?? this.headDim ** -0.5;
    this.qkv = this.add('qkv', new Linear(dim, 3 * dim, { bias: qkvBias }));
    this.attnDrop = this.add('attn_drop', new Dropout(attnDrop));
    this.proj = this.add('proj', new Linear(dim, dim));
    this.projDrop = this.add('proj_drop', new Dropout(projDrop));
  }

  /** x (B, N, C) with CLS at index 0 -> { out (B, N, C), score (B, N-1) }. */
  forward(x: Tensor): { out: Tensor; score: Tensor } {
    return tf.tidy(() => {
      const [b, n, c] = x.shape as [number, number, number];
      const h = this.numHeads;
      const [q, k, v] = splitPartsHeads(this.qkv.forward(x), 3, h) as [Tensor, Tensor, Tensor];
      const attn = tf.softmax(tf.mul(tf.matMul(q, k, false, true), this.scale));
      const heads = tf.matMul(this.attnDrop.forward(attn), v); // (B, h, N, hd)
      const out = this.projDrop.forward(this.proj.forward(tf.reshape(tf.transpose(heads, [0, 2, 1, 3]), [b, n, c])));
      // score[b, n] = sum_h A[b, h, 0, n] * r[b, h, n] / (sum_h r[b, h, n] + 1e-8), r = ||head output of token n||.
      if (heads.dtype === 'float32' && inferenceShortcut(TOKEN_SCORE)) return { out, score: tokenScore(attn, heads) };
      const clsAttn = tf.reshape(tf.slice(attn, [0, 0, 0, 1], [b, h, 1, n - 1]), [b, h, n - 1]);
      const r = tf.sqrt(tf.sum(tf.square(tf.slice(heads, [0, 0, 1, 0], [b, h, n - 1, c / h])), -1));
      const rNorm = tf.div(r, tf.add(tf.sum(r, 1, true), 1e-8));
      const score = tf.sum(tf.mul(clsAttn, rNorm), 1);
      return { out, score };
    });
  }
}

/** Pre-norm ViT block (LN eps 1e-6 in EET) returning its output and its attention's token score. */
export class EETBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: EETAttention;
  readonly dropPath: DropPath;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;

  constructor(dim: number, numHeads: number, opts: { mlpRatio?: number; qkvBias?: boolean; qkScale?: number | null; drop?: number; attnDrop?: number; dropPath?: number; normEps?: number } = {}) {
    super();
    const eps = opts.normEps ?? 1e-6;
    this.norm1 = this.add('norm1', new LayerNorm(dim, eps));
    this.attn = this.add('attn', new EETAttention(dim, numHeads, opts.qkvBias ?? false, opts.qkScale ?? null, opts.attnDrop ?? 0, opts.drop ?? 0));
    this.dropPath = this.add('drop_path', new DropPath(opts.dropPath ?? 0));
    this.norm2 = this.add('norm2', new LayerNorm(dim, eps));
    this.mlp = this.add('mlp', new Mlp(dim, Math.trunc(dim * (opts.mlpRatio ?? 4)), dim, opts.drop ?? 0));
  }

  forward(x: Tensor): { out: Tensor; score: Tensor } {
    return tf.tidy(() => {
      const { out: a, score } = this.attn.forward(this.norm1.forward(x));
      const y = tf.add(x, this.dropPath.forward(a));
      return { out: tf.add(y, this.dropPath.forward(this.mlp.forward(this.norm2.forward(y)))), score };
    });
  }
}

/** Flat rows (B*keep,) int32 of the top-`keep` tokens of each sample in the (B*N, C) view of x. */
function keptRows(score: Tensor, keep: number, n: number): { indices: Tensor; rows: Tensor } {
  const b = score.shape[0]!;
  const { indices } = tf.topk(score, keep, true);
  // Token j of sample i sits at row i*N + j + 1 (+1 skips CLS).
  const rows = tf.reshape(tf.add(indices, tf.reshape(tf.range(1, b * n + 1, n, 'int32'), [b, 1])), [-1]);
  return { indices, rows };
}

/**
 * CLS + gathered tokens as one custom-gradient op: the indices come from the score, which tfjs cannot
 * differentiate through (TopK has no gradient and gather refuses int gradients), so the gradient is written
 * out: scatter the kept tokens' gradient back to their rows; none flows into the score (as with torch.topk).
 */
function gatherKept(x: Tensor, score: Tensor, keep: number): Tensor {
  const [b, n, c] = x.shape as [number, number, number];
  const f = tf.customGrad((...args: (Tensor | tf.GradSaveFunc)[]) => {
    const save = args.pop() as tf.GradSaveFunc;
    const [xx, sc] = args as [Tensor, Tensor];
    const { rows } = keptRows(sc, keep, n);
    save([rows, sc]);
    const kept = tf.reshape(tf.gather(tf.reshape(xx, [b * n, c]), rows), [b, keep, c]);
    const value = tf.concat([tf.slice(xx, [0, 0, 0], [b, 1, c]), kept], 1);
    return {
      value,
      gradFunc: (dy: Tensor, [savedRows, savedScore]: Tensor[]) => {
        const dKept = tf.reshape(tf.slice(dy, [0, 1, 0], [b, keep, c]), [b * keep, c]);
        const scattered = tf.reshape(tf.scatterND(tf.reshape(savedRows!, [b * keep, 1]), dKept, [b * n, c]), [b, n, c]);
        const dCls = tf.pad(tf.slice(dy, [0, 0, 0], [b, 1, c]), [[0, 0], [0, n - 1], [0, 0]]);
        return [tf.add(scattered, dCls), tf.zerosLike(savedScore!)];
      },
    };
  });
  return f(x, score);
}

/**
 * EET token pruning (`PartSelect` + the gather in `VisionTransformer.forward`): keeps CLS and the `keep`
 * highest-scoring tokens in descending score order (torch.topk sorted); pruned tokens are dropped. Returns
 * the kept tokens (B, keep+1, C) and their indices (B, keep) into the current non-CLS sequence (int32).
 */
export function pruneTokens(x: Tensor, score: Tensor, keep: number): { tokens: Tensor; indices: Tensor } {
  const n = x.shape[1]!;
  if (keep > n - 1) throw new Error(`EET pruning: cannot keep ${keep} tokens of ${n - 1} (the official topk raises here; pruning needs at least ${keep} patch tokens)`);
  return tf.tidy(() => ({ tokens: gatherKept(x, score, keep), indices: keptRows(stopGradient(score), keep, n).indices }));
}

export interface EETConfig {
  /** The input size the model is built for (an int or [H, W], timm's to_2tuple); inputs must have exactly it. */
  imgSize?: Size2;
  patchSize?: Size2;
  inChans?: number;
  numClasses?: number;
  hashBits?: number;
  embedDim?: number;
  depth?: number;
  numHeads?: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  qkScale?: number | null;
  dropRate?: number;
  attnDropRate?: number;
  dropPathRate?: number;
  /** LayerNorm eps of the blocks and the final norm (official norm_layer: LayerNorm eps 1e-6). */
  normEps?: number;
  /**
   * Token pruning: after block `after[i]` (0-based) keep `keep[i]` tokens. Official student: after [3, 7, 9]
   * keep [98, 49, 12] (hard-coded there, independent of the input size: an input with fewer than 98
   * patches is an error, as torch.topk is there). Empty: the teacher.
   */
  pruning?: { after: number[]; keep: number[] };
}

export const EET_STUDENT_PRUNING = { after: [3, 7, 9], keep: [98, 49, 12] };

/** The official student's pruning stages that fall inside a `depth`-block network (the others never run). */
export function eetStudentPruning(depth: number): { after: number[]; keep: number[] } {
  const p = EET_STUDENT_PRUNING;
  const inside = p.after.map((_, i) => i).filter((i) => p.after[i]! < depth);
  return { after: inside.map((i) => p.after[i]!), keep: inside.map((i) => p.keep[i]!) };
}

/** Everything one forward yields. */
export interface EETOutput {
  /** The normalized CLS token (B, C) that feeds the head (`pre_logits` is the identity). */
  features: Tensor;
  logits: Tensor;
  /** Continuous hash (B, bits); the retrieval code is its sign. */
  hash: Tensor;
  /** Per pruning stage that ran: kept indices (B, keep) into that stage's input sequence, descending score. */
  keptIndices: Tensor[];
  /** Per pruning stage that ran: the score it pruned with (B, N_stage - 1). */
  stageScores: Tensor[];
  /** The last block's score (the teacher's region-guidance signal in training). */
  lastScore: Tensor;
}

export class EETViT extends Backbone {
  readonly numClasses: number;
  readonly hashBits: number;
  readonly featureInfo: FeatureInfo[];
  override readonly headModules = ['head', 'head_hash'] as const;
  readonly clsToken: Parameter;
  readonly posEmbed: Parameter;
  readonly patchEmbed: ViTPatchEmbed;
  readonly blocks: ModuleList<EETBlock>;
  readonly norm: LayerNorm;
  readonly head: Linear;
  readonly headHash: Linear;
  readonly pruning: { after: number[]; keep: number[] };
  private readonly posDrop: Dropout;

  constructor(cfg: EETConfig = {}) {
    super();
    const dim = cfg.embedDim ?? 768;
    const depth = cfg.depth ?? 12;
    const patch = cfg.patchSize ?? 16;
    this.numClasses = cfg.numClasses ?? 1000;
    if (this.numClasses <= 0) throw new Error('EET: num_classes must be positive (the hash head reads the class logits)');
    this.hashBits = cfg.hashBits ?? 16;
    this.pruning = cfg.pruning ?? { after: [], keep: [] };
    if (this.pruning.after.length !== this.pruning.keep.length) throw new Error('EET: pruning.after and pruning.keep differ in length');
    this.clsToken = this.param('cls_token', [1, 1, dim], truncNormal(0.02));
    this.patchEmbed = new ViTPatchEmbed(cfg.imgSize ?? 224, patch, cfg.inChans ?? 3, dim, 'EET');
    this.posEmbed = this.param('pos_embed', [1, this.patchEmbed.numPatches + 1, dim], truncNormal(0.02));
    this.add('patch_embed', this.patchEmbed);
    this.posDrop = this.add('pos_drop', new Dropout(cfg.dropRate ?? 0));
    const dpr = dropPathSchedule(depth, cfg.dropPathRate ?? 0);
    const blocks = Array.from(
      { length: depth },
      (_, i) =>
        new EETBlock(dim, cfg.numHeads ?? 12, {
          mlpRatio: cfg.mlpRatio ?? 4,
          qkvBias: cfg.qkvBias ?? true,
          qkScale: cfg.qkScale ?? null,
          drop: cfg.dropRate ?? 0,
          attnDrop: cfg.attnDropRate ?? 0,
          dropPath: dpr[i],
          normEps: cfg.normEps ?? 1e-6,
        }),
    );
    this.blocks = this.add('blocks', new ModuleList(blocks));
    this.norm = this.add('norm', new LayerNorm(dim, cfg.normEps ?? 1e-6));
    this.add('pre_logits', new Identity());
    this.head = this.add('head', new Linear(dim, this.numClasses));
    this.headHash = this.add('head_hash', new Linear(this.numClasses, this.hashBits));
    this.featureInfo = blocks.map((_, i) => ({ channels: dim, reduction: this.patchEmbed.patchSize[0], module: `blocks.${i}` }));
    this.apply(vitInit);
  }

  override readonly inputSizeSupport: InputSizeSupport = {
    kind: 'fixed',
    note: "the student keeps 98, 49 and 12 tokens after blocks 3, 7 and 9 whatever the grid (constants set for 224px inputs' 14x14 grid): build it with imgSize and train there",
  };

  override positionEmbeddings(): PositionEmbedding[] {
    return [{ key: 'pos_embed', grid: this.patchEmbed.gridSize, prefixTokens: 1 }];
  }

  private embed(x: Tensor): Tensor {
    const t = this.patchEmbed.tokens(x);
    const b = t.shape[0]!;
    const cls = tf.tile(this.clsToken.value, [b, 1, 1]);
    return this.posDrop.forward(tf.add(tf.concat([cls, t], 1), this.posEmbed.value));
  }

  checkpointUnits(): Module[] {
    return this.blocks.items;
  }

  /** The whole network: logits, hash, pruning indices and scores (docs/families/eet.md#model-and-hash-head). */
  forwardAll(x: Tensor): EETOutput {
    return tf.tidy(() => {
      let y = this.embed(x);
      const keptIndices: Tensor[] = [];
      const stageScores: Tensor[] = [];
      let lastScore: Tensor | null = null;
      this.blocks.items.forEach((blk, i) => {
        const { out, score } = blk.forward(y);
        y = out;
        lastScore = score;
        const stage = this.pruning.after.indexOf(i);
        if (stage >= 0) {
          const { tokens, indices } = pruneTokens(y, score, this.pruning.keep[stage]!);
          y = tokens;
          keptIndices.push(indices);
          stageScores.push(score);
        }
      });
      const cls = tf.squeeze(tf.slice(this.norm.forward(y), [0, 0, 0], [-1, 1, -1]), [1]);
      const logits = this.head.forward(cls);
      return { features: cls, logits, hash: this.headHash.forward(logits), keptIndices, stageScores, lastScore: lastScore! };
    });
  }

  /** (logits, continuous hash), the official eval-mode forward. */
  forwardHash(x: Tensor): { logits: Tensor; hash: Tensor } {
    return tf.tidy(() => {
      const { logits, hash } = this.forwardAll(x);
      return { logits, hash };
    });
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.forwardAll(x).logits);
  }

  /** The normalized CLS feature (B, C) before the head. */
  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => this.forwardAll(x).features);
  }

  /** Tokens (B, N_i, C) after each block in `indices` (after that block's pruning, when it prunes). */
  forwardIntermediates(x: Tensor, indices: number[] = this.featureInfo.map((_, i) => i)): Tensor[] {
    return this.runStages(x, indices, (i, y) => {
      const { out, score } = this.blocks.items[i]!.forward(i === 0 ? this.embed(y) : y);
      const stage = this.pruning.after.indexOf(i);
      return stage >= 0 ? pruneTokens(out, score, this.pruning.keep[stage]!).tokens : out;
    });
  }
}

/** Models with a hash head (retrieval). */
export interface HashingModel {
  readonly hashBits: number;
  forwardHash(x: Tensor): { logits: Tensor; hash: Tensor };
}

export function isHashingModel(m: unknown): m is HashingModel & Backbone {
  return typeof (m as HashingModel).forwardHash === 'function' && typeof (m as HashingModel).hashBits === 'number';
}

/**
 * EET's eval transform (`dataset/transform.py` test_transform): Resize(256) + CenterCrop(224) (crop_pct 0.875,
 * torchvision's default bilinear), ImageNet mean/std. Backbones start from DeiT ImageNet weights; no EET
 * checkpoints are published.
 */
const eetCfg = (notes: string): PretrainedConfig =>
  imagenetConfig({
    cropPct: 0.875,
    interpolation: 'bilinear',
    numClasses: 200,
    labels: undefined,
    firstConv: 'patch_embed.proj',
    notes: `WhiteJiang/EET@19b8442 model/vit.py student (token pruning after blocks 3/7/9 keeping 98/49/12); CUB-200 head; eval transform Resize(256) + CenterCrop(224). ${notes}`,
  });

const VARIANTS: [string, number, number, number][] = [
  // name, embed dim, heads, hash bits
  ['eet_vit_small_cub_16bit', 384, 6, 16],
  ['eet_vit_small_cub_64bit', 384, 6, 64],
  ['eet_vit_base_cub_16bit', 768, 12, 16],
  ['eet_vit_base_cub_64bit', 768, 12, 64],
];

for (const [name, dim, heads, bits] of VARIANTS) {
  registerModel({
    name,
    architecture: 'EET',
    pretrainedCfg: eetCfg(`ViT-${dim === 384 ? 'S' : 'B'}/16 (DeiT init), ${bits}-bit codes.`),
    depths: [12],
    build: (o: ModelOptions) =>
      new EETViT({
        embedDim: dim,
        numHeads: heads,
        depth: stageDepths(o, [12])[0]!,
        patchSize: 16,
        imgSize: imageSize(o),
        hashBits: typeof o.hashBits === 'number' ? o.hashBits : bits,
        numClasses: o.numClasses ?? 200,
        inChans: o.inChans,
        dropRate: o.dropRate,
        dropPathRate: o.dropPathRate,
        pruning: o.pruning === false ? { after: [], keep: [] } : eetStudentPruning(stageDepths(o, [12])[0]!),
      }),
  });
}
