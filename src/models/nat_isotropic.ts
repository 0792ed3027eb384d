/**
 * Isotropic NAT / DiNAT (Hassani, Shi; arXiv 2209.15001), official code
 * SHI-Labs/Neighborhood-Attention-Transformer@d334f5b `classification/isotropic.py` (spec B.6): a ViT-like
 * stack at 1/16 resolution without class token or positional embedding; NA layers with dilation 1 on even
 * layers and `dilation` on odd ones (1 for NAT, 2 for DiNAT).
 */
import { tf, type Tensor } from '../tf.js';
import { type Module, Sequential } from '../nn/module.js';
import { Dropout, dropPathSchedule, Identity, LayerNorm, Linear } from '../nn/layers.js';
import { vitInit } from '../nn/init_schemes.js';
import { NATLayer } from '../blocks/neighborhood_attention.js';
import { SwinPatchEmbed } from '../blocks/swin_patch.js';
import { Backbone, type FeatureInfo } from './backbone.js';
import { type ModelOptions, registerModel, stageDepths } from './registry.js';
import { type NABackboneOptions, natCfg } from './nat.js';

export interface NatIsotropicConfig extends NABackboneOptions {
  imgSize?: number;
  patchSize?: number;
  embedDim?: number;
  depth?: number;
  numHeads?: number;
  dilation?: number;
  patchNorm?: boolean;
}

export class NATIsotropic extends Backbone {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly patchEmbed: SwinPatchEmbed;
  readonly layers: Sequential;
  readonly norm: LayerNorm;
  readonly head: Linear | Identity;
  readonly featureMapSize: number;
  private readonly posDrop: Dropout;

  constructor(cfg: NatIsotropicConfig = {}) {
    super();
    const embedDim = cfg.embedDim ?? 384;
    const depth = cfg.depth ?? 12;
    const patch = cfg.patchSize ?? 16;
    this.numClasses = cfg.numClasses ?? 1000;
    this.featureMapSize = Math.floor((cfg.imgSize ?? 224) / patch);
    this.patchEmbed = this.add('patch_embed', new SwinPatchEmbed(patch, cfg.inChans ?? 3, embedDim, cfg.patchNorm ?? true));
    this.posDrop = this.add('pos_drop', new Dropout(cfg.dropRate ?? 0));
    const dpr = dropPathSchedule(depth, cfg.dropPathRate ?? 0.1);
    const layers = Array.from(
      { length: depth },
      (_, i) =>
        new NATLayer({
          dim: embedDim,
          numHeads: cfg.numHeads ?? 12,
          kernelSize: cfg.kernelSize ?? 7,
          dilation: i % 2 === 0 ? 1 : (cfg.dilation ?? 2),
          mlpRatio: cfg.mlpRatio ?? 4,
          qkvBias: cfg.qkvBias,
          qkScale: cfg.qkScale,
          drop: cfg.dropRate ?? 0,
          dropPath: dpr[i],
        }),
    );
    this.layers = this.add('layers', new Sequential(...layers));
    this.norm = this.add('norm', new LayerNorm(embedDim));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(embedDim, this.numClasses) : new Identity());
    this.featureInfo = layers.map((_, i) => ({ channels: embedDim, reduction: patch, module: `layers.${i}` }));
    this.apply(vitInit);
  }

  private embed(x: Tensor): Tensor {
    const y = this.patchEmbed.forward(x);
    const [, h, w] = y.shape;
    // The official model reshapes to (B, img/16, img/16, C): the input must be img_size square.
    if (h !== this.featureMapSize || w !== this.featureMapSize) {
      throw new Error(`NATIsotropic: input gives a ${h}x${w} patch grid, the model needs ${this.featureMapSize}x${this.featureMapSize} (img_size ${this.featureMapSize * this.patchEmbed.patchSize})`);
    }
    return this.posDrop.forward(y);
  }

  checkpointUnits(): Module[] {
    return this.layers.layers;
  }

  /** Token map (B, S, S, C) after each layer in `indices`. */
  forwardIntermediates(x: Tensor, indices: number[] = this.featureInfo.map((_, i) => i)): Tensor[] {
    return this.runStages(x, indices, (i, y) => this.layers.layers[i]!.forward(i === 0 ? this.embed(y) : y));
  }

  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => tf.mean(this.norm.forward(this.layers.forward(this.embed(x))), [1, 2]));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.head.forward(this.forwardFeatures(x)));
  }
}

const CKPT = 'https://shi-labs.com/projects/dinat/checkpoints/isotropic';
const VARIANTS: [string, 'NAT-isotropic' | 'DiNAT-isotropic', NatIsotropicConfig, string, string][] = [
  ['nat_isotropic_small', 'NAT-isotropic', { embedDim: 384, numHeads: 12, dilation: 1, dropPathRate: 0.1 }, 'nat_isotropic_small_in1k_224.pth', 'NAT-iso-S: 80.0 top-1, 4.3 GFLOPs.'],
  ['nat_isotropic_base', 'NAT-isotropic', { embedDim: 768, numHeads: 24, dilation: 1, dropPathRate: 0.4 }, 'nat_isotropic_base_in1k_224.pth', 'NAT-iso-B: 81.6 top-1, 16.9 GFLOPs.'],
  ['dinat_isotropic_small', 'DiNAT-isotropic', { embedDim: 384, numHeads: 12, dilation: 2, dropPathRate: 0.1 }, 'dinat_isotropic_small_in1k_224.pth', 'DiNAT-iso-S: 80.8 top-1, 4.3 GFLOPs.'],
  ['dinat_isotropic_base', 'DiNAT-isotropic', { embedDim: 768, numHeads: 24, dilation: 2, dropPathRate: 0.4 }, 'dinat_isotropic_base_in1k_224.pth', 'DiNAT-iso-B: 82.1 top-1, 16.9 GFLOPs.'],
];

for (const [name, architecture, cfg, file, notes] of VARIANTS) {
  registerModel({
    name,
    architecture,
    pretrainedCfg: natCfg(`${CKPT}/${file}`, notes),
    depths: [12],
    build: (o: ModelOptions) =>
      new NATIsotropic({ ...cfg, imgSize: 224, patchSize: 16, depth: stageDepths(o, [12])[0]!, mlpRatio: 4, kernelSize: 7, numClasses: o.numClasses, inChans: o.inChans, dropRate: o.dropRate, dropPathRate: o.dropPathRate ?? cfg.dropPathRate }),
  });
}
