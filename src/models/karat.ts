/**
 * ViT with Fourier-KArAt attention (Maity et al., arXiv:2503.10632v3): a vanilla timm/DeiT ViT whose
 * softmax is replaced by a learnable Fourier Kolmogorov-Arnold operator, per head of every block
 * ("blockwise", GnB) or one per head index shared by all blocks ("universal", GnU).
 *
 * NAIVE REFERENCE, NO OFFICIAL WEIGHTS: the authors' code was not public (MaitySubhajit/KArAt @39142d6 holds
 * only a web page); vizoo follows the shared reference written from the paper, and the operator's keys
 * (`attn.karat.coeff`, `attn.karat.proj_weight`, `karat_shared.*`) are that reference's, not official.
 * The token count is part of the operator's weights, so the input size is fixed when the model is built
 * (img_size, an int or [H, W]) and weights trained at one size cannot serve another.
 */
import { tf, type Tensor } from '../tf.js';
import { type Module, ModuleList, type Parameter } from '../nn/module.js';
import { Identity, LayerNorm, Linear } from '../nn/layers.js';
import { truncNormal } from '../nn/init.js';
import { vitInit } from '../nn/init_schemes.js';
import { FourierKArAtOperator, KArAtBlock, type KArAtOptions } from '../blocks/karat.js';
import { ViTPatchEmbed } from '../blocks/patch_embed.js';
import type { ViTLayout } from './vit.js';
import { Backbone, type FeatureInfo, type InputSizeSupport, type PositionEmbedding } from './backbone.js';
import { type ModelOptions, type PretrainedConfig, imageSize, imagenetConfig, registerModel, stageDepths } from './registry.js';

export interface KArAtViTConfig extends KArAtOptions, ViTLayout {
  mode?: 'blockwise' | 'universal';
}

export class VisionTransformerKArAt extends Backbone {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly cls_token: Parameter;
  readonly pos_embed: Parameter;
  readonly patch_embed: ViTPatchEmbed;
  readonly karat_shared: FourierKArAtOperator | null;
  readonly blocks: ModuleList<KArAtBlock>;
  readonly norm: LayerNorm;
  readonly head: Linear | Identity;
  /** Patch tokens + cls: the size of every attention operator. */
  readonly numTokens: number;

  constructor(cfg: KArAtViTConfig) {
    super();
    const D = cfg.embedDim;
    this.patch_embed = this.add('patch_embed', new ViTPatchEmbed(cfg.imgSize ?? 224, cfg.patchSize ?? 16, cfg.inChans ?? 3, D, 'KArAt ViT'));
    this.numTokens = this.patch_embed.numPatches + 1;
    this.numClasses = cfg.numClasses ?? 1000;
    this.cls_token = this.param('cls_token', [1, 1, D], truncNormal(0.02));
    this.pos_embed = this.param('pos_embed', [1, this.numTokens, D], truncNormal(0.02));
    const universal = (cfg.mode ?? 'blockwise') === 'universal';
    this.karat_shared = universal ? this.add('karat_shared', new FourierKArAtOperator(cfg.numHeads, this.numTokens, cfg)) : null;
    const blocks = Array.from(
      { length: cfg.depth },
      () =>
        new KArAtBlock(D, cfg.numHeads, this.numTokens, {
          ...cfg,
          qkvBias: cfg.qkvBias ?? true,
          drop: cfg.dropRate,
          normEps: cfg.normEps ?? 1e-6,
          shared: this.karat_shared ?? undefined,
        }),
    );
    this.blocks = this.add('blocks', new ModuleList(blocks));
    this.norm = this.add('norm', new LayerNorm(D, cfg.normEps ?? 1e-6));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(D, this.numClasses) : new Identity());
    this.featureInfo = [{ channels: D, reduction: this.patch_embed.patchSize[0], module: 'norm' }];
    this.apply(vitInit);
  }

  override readonly inputSizeSupport: InputSizeSupport = {
    kind: 'fixed',
    note: 'every attention operator has per-token coefficients (N = patches + 1): build it with imgSize and train there',
  };

  override positionEmbeddings(): PositionEmbedding[] {
    return [{ key: 'pos_embed', grid: this.patch_embed.gridSize, prefixTokens: 1 }];
  }

  /** Tokens (B, N, D) after the final norm, cls first. */
  private tokens(x: Tensor): Tensor {
    return tf.tidy(() => {
      const b = x.shape[0];
      let y = tf.concat([tf.tile(this.cls_token.value, [b, 1, 1]), this.patch_embed.tokens(x)], 1);
      y = tf.add(y, this.pos_embed.value);
      for (const blk of this.blocks) y = blk.forward(y);
      return this.norm.forward(y);
    });
  }

  checkpointUnits(): Module[] {
    return this.blocks.items;
  }

  /** Isotropic model: the patch tokens after the final norm as one NHWC map. */
  forwardIntermediates(x: Tensor, indices: number[] = [0]): Tensor[] {
    if (indices.some((i) => i !== 0)) throw new Error('KArAt ViT has one feature level (index 0)');
    return tf.tidy(() => {
      const t = this.tokens(x);
      const [b, n, d] = t.shape as [number, number, number];
      return [tf.reshape(tf.slice(t, [0, 1, 0], [b, n - 1, d]), [b, ...this.patch_embed.gridSize, d])];
    });
  }

  /** The cls token after the final norm: (B, D). */
  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => {
      const t = this.tokens(x);
      return tf.reshape(tf.slice(t, [0, 0, 0], [t.shape[0]!, 1, t.shape[2]!]), [t.shape[0]!, t.shape[2]!]);
    });
  }

  forwardHead(cls: Tensor): Tensor {
    return this.head.forward(cls);
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.forwardHead(this.forwardFeatures(x)));
  }
}

/** DeiT evaluation preprocessing (the paper trains with the DeiT recipe). */
const karatCfg = (paper: string): PretrainedConfig =>
  imagenetConfig({
    cropPct: 0.875,
    interpolation: 'bicubic',
    firstConv: 'patch_embed.proj',
    notes:
      `arXiv:2503.10632v3 (${paper}). OFFICIAL WEIGHTS DO NOT EXIST: no code or checkpoints were public (MaitySubhajit/KArAt @39142d6: ` +
      '"Codes Coming Soon"). vizoo implements the naive reference written from the paper; the operator keys (coeff, proj_weight, ' +
      'karat_shared.*) are that reference\'s and will likely differ from an official release. The input size is fixed when the model is built (224px: 197 tokens).',
  });

const VARIANTS: [string, number, number, number, 'blockwise' | 'universal', string][] = [
  ['karat_vit_tiny_g1b', 192, 3, 1, 'blockwise', 'ViT-Tiny + Fourier-KArAt G1B'],
  ['karat_vit_tiny_g3b', 192, 3, 3, 'blockwise', 'ViT-Tiny + Fourier-KArAt G3B; paper IN-1K 59.11 top-1'],
  ['karat_vit_tiny_g3u', 192, 3, 3, 'universal', 'ViT-Tiny + Fourier-KArAt G3U; paper IN-1K 57.97 top-1'],
  ['karat_vit_small_g3b', 384, 6, 3, 'blockwise', 'ViT-Small + Fourier-KArAt G3B; paper IN-1K 67.77 top-1'],
  ['karat_vit_base_g1b', 768, 12, 1, 'blockwise', 'ViT-Base + Fourier-KArAt G1B; paper IN-1K 68.03 top-1'],
  ['karat_vit_base_g1u', 768, 12, 1, 'universal', 'ViT-Base + Fourier-KArAt G1U; paper IN-1K 68.83 top-1'],
];

for (const [name, embedDim, numHeads, gridSize, mode, paper] of VARIANTS) {
  registerModel({
    name,
    architecture: 'KArAt',
    pretrainedCfg: karatCfg(paper),
    depths: [12],
    build: (o: ModelOptions) =>
      new VisionTransformerKArAt({
        imgSize: imageSize(o),
        patchSize: 16,
        embedDim,
        depth: stageDepths(o, [12])[0]!,
        numHeads,
        rank: 12,
        gridSize,
        mode,
        numClasses: o.numClasses,
        inChans: o.inChans,
        dropRate: o.dropRate,
      }),
  });
}
