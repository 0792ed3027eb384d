/**
 * ViG (Liao, Wang, Zhu, Zhang, Huang; "ViG: Linear-complexity Visual Sequence Learning with Gated
 * Linear Attention", arXiv 2405.18425, AAAI 2025), official code hustvl/ViG@dfb9d32
 * `classification/models/vig.py`: an isotropic stack of pre-norm GLA blocks (bidirectional gated
 * linear attention with 2-D locality injection, SwiGLU MLP, RMSNorm) on a two-conv patch embedding
 * with an absolute position embedding (bicubically resized for other token grids), RMSNorm, average
 * pool, linear head. The hierarchical ViG-H lives in vig_h.ts.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { Module, ModuleList, Sequential, type Parameter } from '../nn/module.js';
import { Conv2d, Dropout, DropPath, dropPathSchedule, Identity, LayerNorm, Linear, RMSNorm, SiLU } from '../nn/layers.js';
import { constant, normal, truncNormal, zeros } from '../nn/init.js';
import * as F from '../nn/functional.js';
import { type Pair, pair } from '../nn/functional.js';
import { GatedLinearAttention, type GatedLinearAttentionOptions, SwiGLUMlp, swigluHidden } from '../blocks/gated_linear_attention.js';
import { Backbone, type FeatureInfo, type InputSizeSupport, type PositionEmbedding } from './backbone.js';
import { type ModelOptions, type PretrainedConfig, imageSize, imagenetConfig, registerModel, stageDepths } from './registry.js';

/** The fields of fla's GLAConfig that a ViG block reads. */
export interface GlaBlockConfig extends Omit<GatedLinearAttentionOptions, 'evalOutputScale' | 'normEps'> {
  dim: number;
  numHeads: number;
  /** RMSNorm eps everywhere in the block (GLAConfig.rms_norm_eps = 1e-6). */
  rmsNormEps?: number;
  /** SwiGLU hidden size; default 256 * ceil(int(8 dim / 3) / 256). */
  intermediateSize?: number | null;
  /** Layer scale init (None in every config: no gamma1/gamma2). */
  initValues?: number | null;
}

/** ViG `GLAMLP`: SwiGLU with keys gate_proj / down_proj and the hidden size rounded up to 256. */
export function glaMlp(dim: number, intermediateSize?: number | null, hiddenRatio = 4): SwiGLUMlp {
  return new SwiGLUMlp(dim, intermediateSize ?? swigluHidden(dim, 256, hiddenRatio), dim, ['gate_proj', 'down_proj']);
}

/**
 * ViG `GLABlock` (pre-norm, fla's fused prenorm RMSNorm):
 * r = x + drop_path(g1 * attn(RMSNorm(x))); out = r + drop_path(g2 * mlp(RMSNorm(r))).
 */
export class GLABlock extends Module {
  readonly drop_path: DropPath;
  readonly attn_norm: RMSNorm;
  readonly gamma1: Parameter | null = null;
  readonly gamma2: Parameter | null = null;
  readonly attn: GatedLinearAttention;
  readonly mlp_norm: RMSNorm;
  readonly mlp: SwiGLUMlp;

  constructor(cfg: GlaBlockConfig, dropPath = 0) {
    super();
    const eps = cfg.rmsNormEps ?? 1e-6;
    this.drop_path = this.add('drop_path', new DropPath(dropPath));
    this.attn_norm = this.add('attn_norm', new RMSNorm(cfg.dim, eps));
    if (cfg.initValues !== undefined && cfg.initValues !== null) {
      this.gamma1 = this.param('gamma1', [cfg.dim], constant(cfg.initValues));
      this.gamma2 = this.param('gamma2', [cfg.dim], constant(cfg.initValues));
    }
    const { dim, numHeads, rmsNormEps: _e, intermediateSize, initValues: _i, ...attnOpts } = cfg;
    this.attn = this.add('attn', new GatedLinearAttention(dim, numHeads, { ...attnOpts, normEps: eps, evalOutputScale: 0.5 }));
    this.mlp_norm = this.add('mlp_norm', new RMSNorm(dim, eps));
    this.mlp = this.add('mlp', glaMlp(dim, intermediateSize));
  }

  /** Tokens (B, L, C) of an (h, w) grid. */
  forward(x: Tensor, hw: [number, number]): Tensor {
    return tf.tidy(() => {
      const r = this.drop_path.residual(x, this.attn.forwardTokens(this.attn_norm.forward(x), hw), this.gamma1?.value);
      return this.drop_path.residual(r, this.mlp.forward(this.mlp_norm.forward(r)), this.gamma2?.value);
    });
  }
}

/**
 * ViG `V2PatchEmbed` (patch p): Conv(k p/2+1, stride p/2, pad 1) -> LayerNorm2d -> SiLU ->
 * Conv(k3, s2, p1) -> LayerNorm2d [-> SiLU]. NHWC in, NHWC map out (tokens = its row-major flattening).
 */
export class V2PatchEmbed extends Module {
  readonly proj: Sequential;

  constructor(patchSize = 16, inChans = 3, embedDim = 768, opts: { bias?: boolean; actInPatch?: boolean } = {}) {
    super();
    const s = Math.floor(patchSize / 2);
    const bias = opts.bias ?? true;
    const half = Math.floor(embedDim / 2);
    const layers = [
      new Conv2d(inChans, half, s + 1, { stride: s, padding: 1, bias }),
      new LayerNorm(half, 1e-5),
      new SiLU(),
      new Conv2d(half, embedDim, 3, { stride: 2, padding: 1, bias }),
      new LayerNorm(embedDim, 1e-5),
    ];
    if (opts.actInPatch) layers.push(new SiLU());
    this.proj = this.add('proj', new Sequential(...layers));
  }

  forward(x: Tensor): Tensor {
    return this.proj.forward(x);
  }
}

/** ViG `V1PatchEmbed`: one Conv(k p, stride) and no norm (norm_layer None). */
export class V1PatchEmbed extends Module {
  readonly proj: Conv2d;
  readonly norm: Identity;

  constructor(patchSize = 16, stride = 16, inChans = 3, embedDim = 768) {
    super();
    this.proj = this.add('proj', new Conv2d(inChans, embedDim, patchSize, { stride }));
    this.norm = this.add('norm', new Identity());
  }

  forward(x: Tensor): Tensor {
    return this.proj.forward(x);
  }
}

export interface VigConfig {
  embedDim: number;
  depth: number;
  numHeads: number;
  /** The input size the position embedding is trained for (an int or [H, W]). */
  imgSize?: number | Pair;
  patchSize?: number;
  /** Stride of the v1 patch embed and of the official `num_patches` formula (= patch size in every config). */
  stride?: number;
  inChans?: number;
  numClasses?: number;
  dropRate?: number;
  dropPathRate?: number;
  patchEmbedVersion?: 'v1' | 'v2';
  useBiasInPatch?: boolean;
  useActInPatch?: boolean;
  expandK?: number;
  expandV?: number;
  useActInConv?: boolean;
  useOutAct?: boolean;
  useBiasInDwconv?: boolean;
  initValues?: number | null;
  intermediateSize?: number | null;
  impl?: GatedLinearAttentionOptions['impl'];
}

/** Plain ViG (`ViG` with if_cls_token False, classification_mode avgpool, abs pos embed, SwiGLU). */
export class ViG extends Backbone {
  readonly pos_embed: Parameter;
  readonly patch_embed: V2PatchEmbed | V1PatchEmbed;
  readonly pos_drop: Dropout;
  readonly head: Linear | Identity;
  readonly blocks: ModuleList<GLABlock>;
  readonly norm: RMSNorm;
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly embedDim: number;
  /** The token grid pos_embed was trained for: img_size // patch_size per side. */
  readonly posGrid: Pair;

  constructor(cfg: VigConfig) {
    super();
    const [ih, iw] = pair(cfg.imgSize ?? 224);
    const patch = cfg.patchSize ?? 16;
    const stride = cfg.stride ?? patch;
    const dim = cfg.embedDim;
    this.embedDim = dim;
    this.numClasses = cfg.numClasses ?? 1000;
    const inChans = cfg.inChans ?? 3;
    this.patch_embed = this.add(
      'patch_embed',
      (cfg.patchEmbedVersion ?? 'v2') === 'v2'
        ? new V2PatchEmbed(patch, inChans, dim, { bias: cfg.useBiasInPatch ?? true, actInPatch: cfg.useActInPatch ?? false })
        : new V1PatchEmbed(patch, stride, inChans, dim),
    );
    // The official pos_embed has the patch embed's num_patches (the v1 conv's output grid) tokens, but is
    // read as an img_size // patch_size grid (patch_resolution); every released config has both equal.
    const tokens = (Math.floor((ih - patch) / stride) + 1) * (Math.floor((iw - patch) / stride) + 1);
    this.posGrid = [Math.floor(ih / patch), Math.floor(iw / patch)];
    this.pos_embed = this.param('pos_embed', [1, tokens, dim], truncNormal(0.02));
    this.pos_drop = this.add('pos_drop', new Dropout(cfg.dropRate ?? 0));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(dim, this.numClasses) : new Identity());
    const rate = cfg.dropPathRate ?? 0;
    const dpr = dropPathSchedule(cfg.depth, rate);
    const blockCfg: GlaBlockConfig = {
      dim,
      numHeads: cfg.numHeads,
      expandK: cfg.expandK ?? 0.5,
      expandV: cfg.expandV ?? 1,
      useActInConv: cfg.useActInConv ?? true,
      useOutAct: cfg.useOutAct ?? false,
      useBiasInDwconv: cfg.useBiasInDwconv ?? false,
      initValues: cfg.initValues ?? null,
      intermediateSize: cfg.intermediateSize ?? null,
      rmsNormEps: 1e-6,
      impl: cfg.impl,
    };
    this.blocks = this.add('blocks', new ModuleList(dpr.map((p) => new GLABlock(blockCfg, p))));
    this.norm = this.add('norm', new RMSNorm(dim, 1e-6));
    this.featureInfo = dpr.map((_, i) => ({ channels: dim, reduction: patch, module: `blocks.${i}` }));
    vigInit(this);
  }

  override readonly inputSizeSupport: InputSizeSupport = {
    kind: 'resample',
    note: 'pos_embed covers the img_size/16 grid: weights of another size are resampled as they load (timm), other inputs resize it at run time (official)',
  };

  override positionEmbeddings(): PositionEmbedding[] {
    return [{ key: 'pos_embed', grid: this.posGrid, prefixTokens: 0 }];
  }

  /** pos_embed for an (h, w) token grid: as stored, or bicubically resized from the training grid. */
  positionEmbedding(h: number, w: number): Tensor {
    const [gh, gw] = this.posGrid;
    if (h === gh && w === gw) return this.pos_embed.value;
    return tf.tidy(() => {
      const n = this.pos_embed.shape[1]!;
      if (n !== gh * gw) throw new Error(`ViG: pos_embed has ${n} tokens, not a ${gh}x${gw} grid; cannot resize it to ${h}x${w}`);
      const grid = tf.reshape(this.pos_embed.value, [1, gh, gw, this.embedDim]) as Tensor4D;
      return tf.reshape(F.resizeBicubic(grid, [h, w]), [1, h * w, this.embedDim]);
    });
  }

  /** Patch embedding plus position embedding: tokens (B, L, C) and the grid (h, w). */
  embed(x: Tensor): { tokens: Tensor; hw: [number, number] } {
    return tf.tidy(() => {
      const map = this.patch_embed.forward(x);
      const [b, h, w, c] = map.shape as number[];
      const tokens = this.pos_drop.forward(tf.add(tf.reshape(map, [b!, h! * w!, c!]), this.positionEmbedding(h!, w!)));
      return { tokens, hw: [h!, w!] as [number, number] };
    }) as unknown as { tokens: Tensor; hw: [number, number] };
  }

  checkpointUnits(): Module[] {
    return this.blocks.items;
  }

  /** NHWC input -> the (B, h, w, C) token map after each block in `indices` (default: all). */
  forwardIntermediates(x: Tensor, indices: number[] = this.featureInfo.map((_, i) => i)): Tensor[] {
    return tf.tidy(() => {
      const { tokens, hw } = this.embed(x);
      return this.runStages(
        tokens,
        indices,
        (i, y) => this.blocks.items[i]!.forward(y, hw),
        (_, y) => tf.reshape(y, [y.shape[0]!, hw[0], hw[1], this.embedDim]),
      );
    });
  }

  /** Final RMSNorm and the mean over all tokens: (B, C). */
  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => {
      const { tokens, hw } = this.embed(x);
      let y = tokens;
      for (const blk of this.blocks) y = blk.forward(y, hw);
      return tf.mean(this.norm.forward(y), 1);
    });
  }

  forwardHead(pooled: Tensor): Tensor {
    return this.head.forward(pooled);
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.forwardHead(this.forwardFeatures(x)));
  }
}

/**
 * The official init: every nn.Linear ~ N(0, 0.02) with zero bias (`_init_weights`, initializer_range
 * 0.02), then each GLA layer's reset_parameters (xavier, gain 2^-2.5) again; pos_embed trunc_normal(.02);
 * convs and norms keep PyTorch defaults.
 */
export function vigInit(model: Module): void {
  model.apply((m) => {
    if (m instanceof Linear) {
      m.weight.init = normal(0.02);
      if (m.bias) m.bias.init = zeros;
    }
  });
  model.apply((m) => {
    if (m instanceof GatedLinearAttention) m.resetParameters();
  });
}

/**
 * Preprocessing of the official evaluation (classification/data/build.py, Swin-style): resize to
 * int(256/224 * 224) = 256 with bicubic, center crop 224 (crop_pct 0.875), ImageNet mean/std.
 */
export const vigPretrainedCfg = (notes: string): PretrainedConfig =>
  imagenetConfig({
    cropPct: 0.875,
    interpolation: 'bicubic',
    firstConv: 'patch_embed.proj.0',
    weightsPage: 'https://huggingface.co/hustvl/ViG/tree/main',
    notes: `hustvl/ViG@dfb9d32 classification/models/vig.py with configs/vig/*.yaml; preprocessing from classification/data/build.py. Weights: vizoo pull (src/hub/sources.ts). ${notes}`,
  });

const VARIANTS: [string, number, number, boolean, number, string][] = [
  // name, embed dim, heads, ViG-T flags (SiLU after the dwconv and before o_proj), drop path, README
  ['vig_t', 192, 3, true, 0.0, 'ViG-T: 6M params, 77.2 top-1 (README).'],
  ['vig_s', 384, 6, false, 0.2, 'ViG-S: 23M params, 81.7 top-1 (README).'],
  ['vig_b', 768, 12, false, 0.5, 'ViG-B: 89M params, 82.6 top-1 (README).'],
];

for (const [name, embedDim, numHeads, tinyFlags, dropPath, notes] of VARIANTS) {
  registerModel({
    name,
    architecture: 'ViG',
    pretrainedCfg: vigPretrainedCfg(notes),
    depths: [12],
    build: (o: ModelOptions) =>
      new ViG({
        embedDim,
        depth: stageDepths(o, [12])[0]!,
        numHeads,
        imgSize: imageSize(o),
        useActInConv: tinyFlags,
        useOutAct: tinyFlags,
        numClasses: o.numClasses,
        inChans: o.inChans,
        dropRate: o.dropRate,
        dropPathRate: o.dropPathRate ?? dropPath,
      }),
  });
}
