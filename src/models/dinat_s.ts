/**
 * DiNAT_s: the Swin-style variant of Dilated NAT (Hassani, Shi; arXiv 2209.15001), official code
 * SHI-Labs/Neighborhood-Attention-Transformer@d334f5b `classification/dinats.py` (docs/families/nat.md#dinat_s).
 * A 4x4 patch embedding, levels of NA layers (no layer scale) each but the last followed by Swin patch merging,
 * LayerNorm, token mean, Linear.
 */
import { PatchMerging, SwinPatchEmbed } from '../blocks/swin_patch.js';
import { type ModelOptions, registerModel } from './registry.js';
import { HierarchicalNA, type NABackboneOptions, natCfg, natDepths } from './nat.js';

export interface DinatSConfig extends NABackboneOptions {
  embedDim: number;
  depths: number[];
  numHeads: number[];
  patchSize?: number;
  dilations?: number[][] | null;
  patchNorm?: boolean;
}

/** DiNAT_s: the hierarchical NA backbone with a Swin patch embedding and Swin patch merging, no layer scale. */
export class DiNATs extends HierarchicalNA {
  constructor(cfg: DinatSConfig) {
    const patch = cfg.patchSize ?? 4;
    super(
      { ...cfg, mlpRatio: cfg.mlpRatio ?? 4, layerScale: null },
      {
        name: 'DiNAT_s',
        embed: new SwinPatchEmbed(patch, cfg.inChans ?? 3, cfg.embedDim, cfg.patchNorm ?? true),
        stride: patch,
        levelsKey: 'layers',
        downsample: (dim) => new PatchMerging(dim),
      },
    );
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
