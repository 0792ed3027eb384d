/**
 * ViT with Fourier-KArAt attention (Maity et al., arXiv:2503.10632v3): a vanilla timm/DeiT ViT whose
 * softmax is replaced by a learnable Fourier Kolmogorov-Arnold operator, per head of every block
 * ("blockwise", GnB) or one per head index shared by all blocks ("universal", GnU).
 *
 * NAIVE REFERENCE, NO OFFICIAL WEIGHTS: the authors' code was not public (MaitySubhajit/KArAt @39142d6 holds
 * only a web page); vizoo follows the shared reference written from the paper, and the operator's keys
 * (`attn.karat.coeff`, `attn.karat.proj_weight`, `karat_shared.*`) are that reference's, not official.
 * The token count is part of the operator's weights, so the input size is fixed.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, ModuleList, type Parameter } from '../nn/module.js';
import { Conv2d, Identity, LayerNorm, Linear } from '../nn/layers.js';
import { truncNormal } from '../nn/init.js';
import { vitInit } from '../nn/init_schemes.js';
import { FourierKArAtOperator, KArAtBlock, type KArAtOptions } from '../blocks/karat.js';
import { Backbone, type FeatureInfo } from './backbone.js';
import { type ModelOptions, type PretrainedConfig, imagenetConfig, registerModel, stageDepths } from './registry.js';

export interface KArAtViTConfig extends KArAtOptions {
  imgSize?: number;
  patchSize?: number;
  inChans?: number;
  numClasses?: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  mode?: 'blockwise' | 'universal';
  dropRate?: number;
  normEps?: number;
}

/** timm ViT `PatchEmbed` (proj only, no norm). */
export class ViTPatchEmbed extends Module {
  readonly proj: Conv2d;

  constructor(patchSize: number, inChans: number, embedDim: number) {
    super();
    this.proj = this.add('proj', new Conv2d(inChans, embedDim, patchSize, { stride: patchSize }));
  }

  forward(x: Tensor): Tensor {
    return this.proj.forward(x);
  }
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
  readonly imgSize: number;
  readonly patchSize: number;
  readonly numTokens: number;

  constructor(cfg: KArAtViTConfig) {
    super();
    this.imgSize = cfg.imgSize ?? 224;
    this.patchSize = cfg.patchSize ?? 16;
    const grid = Math.floor(this.imgSize / this.patchSize);
    this.numTokens = grid * grid + 1;
    const D = cfg.embedDim;
    this.numClasses = cfg.numClasses ?? 1000;
    this.cls_token = this.param('cls_token', [1, 1, D], truncNormal(0.02));
    this.pos_embed = this.param('pos_embed', [1, this.numTokens, D], truncNormal(0.02));
    this.patch_embed = this.add('patch_embed', new ViTPatchEmbed(this.patchSize, cfg.inChans ?? 3, D));
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
    this.featureInfo = [{ channels: D, reduction: this.patchSize, module: 'norm' }];
    this.apply(vitInit);
  }

  /** Tokens (B, N, D) after the final norm, cls first. */
  private tokens(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [b, h, w] = x.shape as number[];
      if (h !== this.imgSize || w !== this.imgSize) {
        throw new Error(`KArAt ViT needs ${this.imgSize}x${this.imgSize} inputs (its attention operator is built for ${this.numTokens} tokens), got ${h}x${w}`);
      }
      const p = this.patch_embed.forward(x);
      const D = p.shape[3]!;
      let y = tf.concat([tf.tile(this.cls_token.value, [b!, 1, 1]), tf.reshape(p, [b!, -1, D])], 1);
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
      const g = Math.round(Math.sqrt(n - 1));
      return [tf.reshape(tf.slice(t, [0, 1, 0], [b, n - 1, d]), [b, g, g, d])];
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
      'karat_shared.*) are that reference\'s and will likely differ from an official release. Fixed 224px input (197 tokens).',
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
        imgSize: 224,
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
