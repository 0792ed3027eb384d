/**
 * Isotropic NAT / DiNAT (Hassani, Shi; arXiv 2209.15001), official code
 * SHI-Labs/Neighborhood-Attention-Transformer@d334f5b `classification/isotropic.py`
 * (docs/families/nat.md#isotropic-nat-and-dinat): a ViT-like stack at 1/16 resolution without class token or
 * positional embedding; NA layers with dilation 1 on even layers and `dilation` on odd ones (1 for NAT, 2 for
 * DiNAT).
 */
import { tf, type Tensor } from '../tf.js';
import { type Pair, pair } from '../nn/functional.js';
import { type Module, Sequential } from '../nn/module.js';
import { Dropout, dropPathSchedule, Identity, LayerNorm, Linear } from '../nn/layers.js';
import { vitInit } from '../nn/init_schemes.js';
import { NATLayer } from '../blocks/neighborhood_attention.js';
import { SwinPatchEmbed } from '../blocks/swin_patch.js';
import { Backbone, type FeatureInfo, type InputSizeSupport } from './backbone.js';
import { type ModelOptions, imageSize, registerModel, stageDepths } from './registry.js';
import { type NABackboneOptions, natCfg } from './nat.js';

export interface NatIsotropicConfig extends NABackboneOptions {
  /** The input size the token grid is reshaped to (an int or [H, W]); weights do not depend on it. */
  imgSize?: number | Pair;
  patchSize?: number;
  embedDim?: number;
  depth?: number;
  numHeads?: number;
  dilation?: number;
  patchNorm?: boolean;
  /** eps of every LayerNorm (official norm_layer, default nn.LayerNorm: 1e-5). */
  normEps?: number;
}

export class NATIsotropic extends Backbone {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly patchEmbed: SwinPatchEmbed;
  readonly layers: Sequential;
  readonly norm: LayerNorm;
  readonly head: Linear | Identity;
  /** Token grid img_size // patch_size per axis (the official `feature_map_size`). */
  readonly featureMapSize: Pair;
  private readonly posDrop: Dropout;

  constructor(cfg: NatIsotropicConfig = {}) {
    super();
    const embedDim = cfg.embedDim ?? 384;
    const depth = cfg.depth ?? 12;
    const patch = cfg.patchSize ?? 16;
    this.numClasses = cfg.numClasses ?? 1000;
    const [ih, iw] = pair(cfg.imgSize ?? 224);
    this.featureMapSize = [Math.floor(ih / patch), Math.floor(iw / patch)];
    this.patchEmbed = this.add('patch_embed', new SwinPatchEmbed(patch, cfg.inChans ?? 3, embedDim, cfg.patchNorm ?? true, cfg.normEps));
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
          normEps: cfg.normEps,
        }),
    );
    this.layers = this.add('layers', new Sequential(...layers));
    this.norm = this.add('norm', new LayerNorm(embedDim, cfg.normEps));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(embedDim, this.numClasses) : new Identity());
    this.featureInfo = layers.map((_, i) => ({ channels: embedDim, reduction: patch, module: `layers.${i}` }));
    this.apply(vitInit);
  }

  override readonly inputSizeSupport: InputSizeSupport = {
    kind: 'any',
    note: 'no position embedding, relative position biases sized by the kernel (the model is built for one img_size grid)',
  };

  private embed(x: Tensor): Tensor {
    const y = this.patchEmbed.forward(x);
    const [, h, w] = y.shape;
    // The official model reshapes to (B, img/16, img/16, C): the input must give the img_size grid.
    const [fh, fw] = this.featureMapSize;
    if (h !== fh || w !== fw) {
      const p = this.patchEmbed.patchSize;
      throw new Error(`NATIsotropic: input gives a ${h}x${w} patch grid, the model needs ${fh}x${fw} (img_size ${fh * p}x${fw * p}; build it with imgSize)`);
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
      new NATIsotropic({ ...cfg, imgSize: imageSize(o), patchSize: 16, depth: stageDepths(o, [12])[0]!, mlpRatio: 4, kernelSize: 7, numClasses: o.numClasses, inChans: o.inChans, dropRate: o.dropRate, dropPathRate: o.dropPathRate ?? cfg.dropPathRate }),
  });
}
