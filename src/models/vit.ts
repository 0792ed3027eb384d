/**
 * A DeiT-style ViT (timm's VisionTransformer: conv patch embedding, class token, learned position
 * embedding, pre-norm blocks, final LayerNorm, linear head) whose attention is a choice of token mixer
 * (blocks/token_mixers.ts): timm's softmax attention by default, or one of the seed papers' linear and
 * normalized attentions. Keys are timm's (cls_token, pos_embed, patch_embed.proj, blocks.i.{norm1, attn,
 * norm2, mlp}, norm, head), with each mixer's official keys under `attn`.
 *
 * Where a mixer limits what a token sees, the class token moves so that it still sees the image:
 * causal mixers (Based, Lightning Attention-2 have no non-causal form) put it LAST in the sequence, after
 * the patches in raster order; DiagAttention alone (chunks never exchange tokens) averages the patch
 * tokens instead of reading the class token. pos_embed keeps timm's layout (class slot first) throughout.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { type Module, ModuleList, type Parameter } from '../nn/module.js';
import { Identity, LayerNorm, Linear, dropPathSchedule } from '../nn/layers.js';
import { truncNormal } from '../nn/init.js';
import { vitInit } from '../nn/init_schemes.js';
import * as F from '../nn/functional.js';
import { ViTBlock } from '../blocks/attention.js';
import { type Size2, ViTPatchEmbed } from '../blocks/patch_embed.js';
import { type TokenMixer, getTokenMixer } from '../blocks/token_mixers.js';
import { Backbone, type FeatureInfo, type InputSizeSupport, type PositionEmbedding } from './backbone.js';
import { type ModelOptions, imageSize, imagenetConfig, registerModel, stageDepths } from './registry.js';

/** The isotropic ViT layout (timm's VisionTransformer arguments), shared with KArAt's ViT. */
export interface ViTLayout {
  imgSize?: Size2;
  patchSize?: Size2;
  inChans?: number;
  numClasses?: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  dropRate?: number;
  normEps?: number;
}

/** imgSize is the input size the position embedding is built for; other multiples of the patch resample it (antialiased bicubic, as timm's dynamic_img_size). */
export interface VisionTransformerConfig extends ViTLayout {
  /** Token mixer name (default 'softmax'). */
  mixer?: string;
  attnDropRate?: number;
  dropPathRate?: number;
}

export class VisionTransformer extends Backbone {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly cls_token: Parameter;
  readonly pos_embed: Parameter;
  readonly patch_embed: ViTPatchEmbed;
  readonly blocks: ModuleList<ViTBlock>;
  readonly norm: LayerNorm;
  readonly head: Linear | Identity;
  readonly mixer: TokenMixer;
  /** The patch grid pos_embed holds (rows, columns). */
  readonly grid: [number, number];

  constructor(cfg: VisionTransformerConfig) {
    super();
    this.mixer = getTokenMixer(cfg.mixer ?? 'softmax');
    const D = cfg.embedDim;
    this.patch_embed = this.add('patch_embed', new ViTPatchEmbed(cfg.imgSize ?? 224, cfg.patchSize ?? 16, cfg.inChans ?? 3, D, 'ViT', true));
    this.grid = this.patch_embed.gridSize;
    this.numClasses = cfg.numClasses ?? 1000;
    this.cls_token = this.param('cls_token', [1, 1, D], truncNormal(0.02));
    this.pos_embed = this.param('pos_embed', [1, this.patch_embed.numPatches + 1, D], truncNormal(0.02));
    const dpr = dropPathSchedule(cfg.depth, cfg.dropPathRate ?? 0);
    const blocks = dpr.map((dropPath, layerIdx) => {
      const attn = this.mixer.build({
        dim: D,
        numHeads: cfg.numHeads,
        layerIdx,
        depth: cfg.depth,
        qkvBias: cfg.qkvBias ?? true,
        attnDrop: cfg.attnDropRate ?? 0,
        projDrop: cfg.dropRate ?? 0,
      });
      return new ViTBlock(D, attn, { mlpRatio: cfg.mlpRatio, drop: cfg.dropRate, dropPath, normEps: cfg.normEps ?? 1e-6 });
    });
    this.blocks = this.add('blocks', new ModuleList(blocks));
    this.norm = this.add('norm', new LayerNorm(D, cfg.normEps ?? 1e-6));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(D, this.numClasses) : new Identity());
    this.featureInfo = [{ channels: D, reduction: this.patch_embed.patchSize[0], module: 'norm' }];
    this.apply(vitInit);
  }

  private get classLast(): boolean {
    return this.mixer.reach === 'causal';
  }

  override readonly inputSizeSupport: InputSizeSupport = {
    kind: 'resample',
    note: 'pos_embed is resampled (antialiased bicubic) to the patch grid of each input, and as weights of another size load',
  };

  checkpointUnits(): Module[] {
    return this.blocks.items;
  }

  override positionEmbeddings(): PositionEmbedding[] {
    return [{ key: 'pos_embed', grid: this.grid, prefixTokens: 1 }];
  }

  /** pos_embed's patch part for a gh x gw grid (1, gh*gw, D): as stored, or resampled as timm's dynamic_img_size. */
  private patchPositions(gh: number, gw: number): Tensor {
    const pos = this.pos_embed.value;
    const D = pos.shape[2]!;
    const [h, w] = this.grid;
    const patches = tf.slice(pos, [0, 1, 0], [1, h * w, D]);
    if (gh === h && gw === w) return patches;
    return tf.reshape(F.resizeBicubic(tf.reshape(patches, [1, h, w, D]) as Tensor4D, [gh, gw], false, true), [1, gh * gw, D]);
  }

  /** Tokens (B, 1 + gh*gw, D) after the final norm, in the mixer's order, and the patch grid. */
  private tokens(x: Tensor): { t: Tensor; gh: number; gw: number } {
    const b = x.shape[0];
    return tf.tidy(() => {
      const e = this.patch_embed.forward(x);
      const [, gh, gw, D] = e.shape as number[];
      const patches = tf.add(tf.reshape(e, [b!, gh! * gw!, D!]), this.patchPositions(gh!, gw!));
      const cls = tf.tile(tf.add(this.cls_token.value, tf.slice(this.pos_embed.value, [0, 0, 0], [1, 1, D!])), [b!, 1, 1]);
      let y = tf.concat(this.classLast ? [patches, cls] : [cls, patches], 1);
      for (const blk of this.blocks) y = blk.forward(y);
      return { t: this.norm.forward(y), gh: gh!, gw: gw! };
    });
  }

  /** The patch tokens of a normed token sequence, (B, gh*gw, D). */
  private patchTokens(t: Tensor): Tensor {
    const [b, n, d] = t.shape as number[];
    return tf.slice(t, [0, this.classLast ? 0 : 1, 0], [b!, n! - 1, d!]);
  }

  /** Isotropic model: the patch tokens after the final norm as one NHWC map. */
  forwardIntermediates(x: Tensor, indices: number[] = [0]): Tensor[] {
    if (indices.some((i) => i !== 0)) throw new Error('ViT has one feature level (index 0)');
    return tf.tidy(() => {
      const { t, gh, gw } = this.tokens(x);
      return [tf.reshape(this.patchTokens(t), [t.shape[0]!, gh, gw, t.shape[2]!])];
    });
  }

  /** The pooled features (B, D): the class token, or the mean patch token for chunk-local mixers. */
  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => {
      const { t } = this.tokens(x);
      const [b, n, d] = t.shape as number[];
      if (this.mixer.reach === 'chunk') return tf.mean(this.patchTokens(t), 1);
      return tf.reshape(tf.slice(t, [0, this.classLast ? n! - 1 : 0, 0], [b!, 1, d!]), [b!, d!]);
    });
  }

  forwardHead(features: Tensor): Tensor {
    return this.head.forward(features);
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.forwardHead(this.forwardFeatures(x)));
  }
}

const VARIANTS: [string, number, number, string][] = [
  ['vit_tiny', 192, 3, 'DeiT-Ti'],
  ['vit_small', 384, 6, 'DeiT-S'],
  ['vit_base', 768, 12, 'DeiT-B'],
];

for (const [name, embedDim, numHeads, deit] of VARIANTS) {
  registerModel({
    name,
    architecture: 'ViT',
    description: `${deit} layout (patch 16, ${embedDim} wide, ${numHeads} heads, 12 blocks) with a choice of token mixer`,
    pretrainedCfg: imagenetConfig({
      cropPct: 0.875,
      interpolation: 'bicubic',
      firstConv: 'patch_embed.proj',
      mixer: 'softmax',
      notes:
        `${deit} (Touvron et al., arXiv 2012.12877) in timm's VisionTransformer layout and keys. Options: mixer (vizoo list --mixers; default softmax), ` +
        'imgSize (the position embedding grid; other sizes resample it). Weights: the official DeiT checkpoints fit the softmax mixer (vizoo pull).',
    }),
    depths: [12],
    build: (o: ModelOptions) =>
      new VisionTransformer({
        imgSize: imageSize(o),
        embedDim,
        depth: stageDepths(o, [12])[0]!,
        numHeads,
        mixer: o.mixer === undefined ? undefined : String(o.mixer),
        numClasses: o.numClasses,
        inChans: o.inChans,
        dropRate: o.dropRate,
        dropPathRate: o.dropPathRate,
      }),
  });
}
