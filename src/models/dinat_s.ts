/**
 * DiNAT_s: the Swin-style variant of Dilated NAT (Hassani, Shi; arXiv 2209.15001), official code
 * SHI-Labs/Neighborhood-Attention-Transformer@d334f5b `classification/dinats.py` (spec B.5). A 4x4 patch
 * embedding, levels of NA layers (no layer scale) each but the last followed by Swin patch merging, LayerNorm,
 * token mean, Linear.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, ModuleList } from '../nn/module.js';
import { Dropout, Identity, LayerNorm, Linear } from '../nn/layers.js';
import { vitInit } from '../nn/init_schemes.js';
import { NATLayer } from '../blocks/neighborhood_attention.js';
import { PatchMerging, SwinPatchEmbed } from '../blocks/swin_patch.js';
import { Backbone, type FeatureInfo } from './backbone.js';
import { type ModelOptions, registerModel } from './registry.js';
import { dropPathSchedule, natCfg, natDepths } from './nat.js';

/** One DiNAT_s level (`BasicLayer`): NA layers, then optional patch merging. */
export class DinatSLevel extends Module {
  readonly blocks: ModuleList<NATLayer>;
  readonly downsample: PatchMerging | null;

  constructor(layers: NATLayer[], dim: number, downsample: boolean) {
    super();
    this.blocks = this.add('blocks', new ModuleList(layers));
    this.downsample = downsample ? this.add('downsample', new PatchMerging(dim)) : null;
  }

  forwardBlocks(x: Tensor): Tensor {
    return tf.tidy(() => {
      let y = x;
      for (const b of this.blocks) y = b.forward(y);
      return y;
    });
  }
}

export interface DinatSConfig {
  embedDim: number;
  depths: number[];
  numHeads: number[];
  patchSize?: number;
  kernelSize?: number;
  dilations?: number[][] | null;
  mlpRatio?: number;
  inChans?: number;
  numClasses?: number;
  qkvBias?: boolean;
  qkScale?: number | null;
  dropRate?: number;
  dropPathRate?: number;
  patchNorm?: boolean;
}

export class DiNATs extends Backbone {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly patchEmbed: SwinPatchEmbed;
  readonly layers: ModuleList<DinatSLevel>;
  readonly norm: LayerNorm;
  readonly head: Linear | Identity;
  private readonly posDrop: Dropout;

  constructor(cfg: DinatSConfig) {
    super();
    const { embedDim, depths, numHeads } = cfg;
    if (numHeads.length !== depths.length) throw new Error('DiNAT_s: depths and num_heads need one entry per level');
    this.numClasses = cfg.numClasses ?? 1000;
    const patch = cfg.patchSize ?? 4;
    const nLevels = depths.length;
    const numFeatures = embedDim * 2 ** (nLevels - 1);
    this.patchEmbed = this.add('patch_embed', new SwinPatchEmbed(patch, cfg.inChans ?? 3, embedDim, cfg.patchNorm ?? true));
    this.posDrop = this.add('pos_drop', new Dropout(cfg.dropRate ?? 0));
    const dpr = dropPathSchedule(depths.reduce((a, b) => a + b, 0), cfg.dropPathRate ?? 0.2);
    let cur = 0;
    const levels = depths.map((depth, i) => {
      const dim = embedDim * 2 ** i;
      const layers = Array.from(
        { length: depth },
        (_, j) =>
          new NATLayer({
            dim,
            numHeads: numHeads[i]!,
            kernelSize: cfg.kernelSize ?? 7,
            dilation: cfg.dilations?.[i]?.[j] ?? 1,
            mlpRatio: cfg.mlpRatio ?? 4,
            qkvBias: cfg.qkvBias,
            qkScale: cfg.qkScale,
            drop: cfg.dropRate ?? 0,
            dropPath: dpr[cur + j],
          }),
      );
      cur += depth;
      return new DinatSLevel(layers, dim, i < nLevels - 1);
    });
    this.layers = this.add('layers', new ModuleList(levels));
    this.norm = this.add('norm', new LayerNorm(numFeatures));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(numFeatures, this.numClasses) : new Identity());
    this.featureInfo = depths.map((_, i) => ({ channels: embedDim * 2 ** i, reduction: patch * 2 ** i, module: `layers.${i}.blocks` }));
    this.apply(vitInit);
  }

  /** Patch embedding output, then each level's output after its patch merging (the official `layer(x)`). */
  forwardLevels(x: Tensor): Tensor[] {
    return tf.tidy(() => {
      const outs = [this.posDrop.forward(this.patchEmbed.forward(x))];
      for (const level of this.layers) {
        const y = level.forwardBlocks(outs[outs.length - 1]!);
        outs.push(level.downsample ? level.downsample.forward(y) : y);
      }
      return outs;
    });
  }

  forwardIntermediates(x: Tensor, indices: number[] = this.featureInfo.map((_, i) => i)): Tensor[] {
    return this.runStages(x, indices, (i, y) => {
      const prev = i === 0 ? this.posDrop.forward(this.patchEmbed.forward(y)) : this.layers.items[i - 1]!.downsample!.forward(y);
      return this.layers.items[i]!.forwardBlocks(prev);
    });
  }

  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => {
      const levels = this.forwardLevels(x);
      return tf.mean(this.norm.forward(levels[levels.length - 1]!), [1, 2]);
    });
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.head.forward(this.forwardFeatures(x)));
  }
}

const CKPT = 'https://shi-labs.com/projects/dinat/checkpoints/imagenet1k';
const DIL_SMALL = [[1, 8], [1, 4], Array.from({ length: 18 }, (_, i) => (i % 2 ? 2 : 1)), [1, 1]];

const VARIANTS: [string, DinatSConfig, string, string][] = [
  ['dinat_s_tiny', { embedDim: 96, depths: [2, 2, 6, 2], numHeads: [3, 6, 12, 24], dropPathRate: 0.2, dilations: [[1, 8], [1, 4], [1, 2, 1, 2, 1, 2], [1, 1]] }, 'dinat_s_tiny_in1k_224.pth', 'DiNAT_s-Tiny: 81.8 top-1, 4.5 GFLOPs.'],
  ['dinat_s_small', { embedDim: 96, depths: [2, 2, 18, 2], numHeads: [3, 6, 12, 24], dropPathRate: 0.3, dilations: DIL_SMALL }, 'dinat_s_small_in1k_224.pth', 'DiNAT_s-Small: 83.5 top-1.'],
  ['dinat_s_base', { embedDim: 128, depths: [2, 2, 18, 2], numHeads: [4, 8, 16, 32], dropPathRate: 0.5, dilations: DIL_SMALL }, 'dinat_s_base_in1k_224.pth', 'DiNAT_s-Base: 83.8 top-1.'],
  ['dinat_s_large', { embedDim: 192, depths: [2, 2, 18, 2], numHeads: [6, 12, 24, 48], dropPathRate: 0.35, dilations: DIL_SMALL }, 'dinat_s_large_in1k_224.pth', 'DiNAT_s-Large (ImageNet-22k pretrained): 86.5 top-1.'],
];

for (const [name, cfg, file, notes] of VARIANTS) {
  registerModel({
    name,
    architecture: 'DiNAT_s',
    pretrainedCfg: natCfg(`${CKPT}/${file}`, notes),
    depths: cfg.depths,
    build: (o: ModelOptions) => new DiNATs({ ...cfg, ...natDepths(o, cfg), mlpRatio: 4, numClasses: o.numClasses, inChans: o.inChans, dropRate: o.dropRate, dropPathRate: o.dropPathRate ?? cfg.dropPathRate }),
  });
}
