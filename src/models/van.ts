/**
 * VAN: Visual Attention Network (Guo, Lu, Liu, Cheng, Hu; arXiv 2202.09741), official code
 * Visual-Attention-Network/VAN-Classification `models/van.py`. Four stages of overlapping patch embed,
 * LKA blocks and a per-stage LayerNorm; global average pool after the last norm; linear head.
 */
import { tf, type Tensor } from '../tf.js';
import { type Module, ModuleList } from '../nn/module.js';
import { dropPathSchedule, Identity, LayerNorm, Linear } from '../nn/layers.js';
import { fanOutConvInit } from '../nn/init_schemes.js';
import { LKA, LayerScaleConvBlock, SpatialAttention } from '../blocks/lka.js';
import { ConvMlp } from '../blocks/conv_mlp.js';
import { OverlapPatchEmbed } from '../blocks/patch_embed.js';
import { Backbone, type FeatureInfo } from './backbone.js';
import { type ModelOptions, type PretrainedConfig, imagenetConfig, registerModel, stageDepths } from './registry.js';

export interface VanConfig {
  embedDims: number[];
  depths: number[];
  mlpRatios?: number[];
  inChans?: number;
  numClasses?: number;
  dropRate?: number;
  dropPathRate?: number;
  /** LayerNorm eps of the stage norms: 1e-6 in every named variant, 1e-5 is the class default. */
  normEps?: number;
}

/** One VAN block: LKA spatial attention and the conv MLP under layer-scaled residuals. */
export function vanBlock(dim: number, mlpRatio: number, drop = 0, dropPath = 0): LayerScaleConvBlock {
  return new LayerScaleConvBlock(dim, new SpatialAttention(dim, new LKA(dim)), new ConvMlp(dim, Math.trunc(dim * mlpRatio), dim, drop), dropPath);
}

export class VAN extends Backbone {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly patchEmbeds: OverlapPatchEmbed[] = [];
  readonly stages: ModuleList<LayerScaleConvBlock>[] = [];
  readonly norms: LayerNorm[] = [];
  readonly head: Linear | Identity;
  readonly embedDims: number[];

  constructor(cfg: VanConfig) {
    super();
    const { embedDims, depths } = cfg;
    if (embedDims.length !== 4 || depths.length !== 4) throw new Error('VAN: embedDims and depths need 4 stages (the head reads stage 4)');
    const mlpRatios = cfg.mlpRatios ?? [4, 4, 4, 4];
    const total = depths.reduce((a, b) => a + b, 0);
    const rate = cfg.dropPathRate ?? 0;
    const dpr = dropPathSchedule(total, rate);
    this.embedDims = embedDims;
    this.numClasses = cfg.numClasses ?? 1000;
    let cur = 0;
    for (let i = 0; i < 4; i++) {
      const inC = i === 0 ? (cfg.inChans ?? 3) : embedDims[i - 1]!;
      this.patchEmbeds.push(this.add(`patch_embed${i + 1}`, new OverlapPatchEmbed(i === 0 ? 7 : 3, i === 0 ? 4 : 2, inC, embedDims[i])));
      const blocks = Array.from({ length: depths[i]! }, (_, j) => vanBlock(embedDims[i]!, mlpRatios[i]!, cfg.dropRate ?? 0, dpr[cur + j]!));
      this.stages.push(this.add(`block${i + 1}`, new ModuleList(blocks)));
      this.norms.push(this.add(`norm${i + 1}`, new LayerNorm(embedDims[i]!, cfg.normEps ?? 1e-6)));
      cur += depths[i]!;
    }
    this.head = this.add('head', this.numClasses > 0 ? new Linear(embedDims[3]!, this.numClasses) : new Identity());
    this.featureInfo = embedDims.map((c, i) => ({ channels: c, reduction: 4 * 2 ** i, module: `norm${i + 1}` }));
    this.apply(fanOutConvInit);
  }

  private stage(i: number, x: Tensor): Tensor {
    let y = this.patchEmbeds[i]!.forward(x);
    for (const blk of this.stages[i]!) {
      const next = blk.forward(y);
      if (y !== x) y.dispose();
      y = next;
    }
    const out = this.norms[i]!.forward(y);
    if (y !== x) y.dispose();
    return out;
  }

  checkpointUnits(): Module[] {
    return this.stages.flatMap((s) => s.items);
  }

  forwardIntermediates(x: Tensor, indices: number[] = [0, 1, 2, 3]): Tensor[] {
    return this.runStages(x, indices, (i, y) => this.stage(i, y));
  }

  /** Last stage map after its LayerNorm, pooled over H and W: (B, C4). */
  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => tf.mean(this.forwardIntermediates(x, [3])[0]!, [1, 2]));
  }

  forwardHead(pooled: Tensor): Tensor {
    return this.head.forward(pooled);
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.forwardHead(this.forwardFeatures(x)));
  }
}

/**
 * Preprocessing of the official weights: VAN's builders set `default_cfg = timm.models.vision_transformer._cfg()`
 * (timm 0.4.12), which timm's train.py and validate.py resolve: bicubic, crop_pct 0.9, mean = std = 0.5.
 */
const vanCfg = (url?: string, notes?: string): PretrainedConfig =>
  imagenetConfig({
    cropPct: 0.9,
    interpolation: 'bicubic',
    mean: [0.5, 0.5, 0.5],
    std: [0.5, 0.5, 0.5],
    url,
    firstConv: 'patch_embed1.proj',
    notes: `Visual-Attention-Network/VAN-Classification@e19779b models/van.py; preprocessing from timm 0.4.12 vit _cfg() as set by the builders.${notes ? ` ${notes}` : ''}`,
  });

const HF = 'https://huggingface.co/Visual-Attention-Network';
const VARIANTS: [string, number[], number[], PretrainedConfig][] = [
  ['van_b0', [32, 64, 160, 256], [3, 3, 5, 2], vanCfg(`${HF}/VAN-Tiny-original/resolve/main/van_tiny_754.pth.tar`, 'README name: VAN-Tiny, 75.4 top-1.')],
  ['van_b1', [64, 128, 320, 512], [2, 2, 4, 2], vanCfg(`${HF}/VAN-Small-original/resolve/main/van_small_811.pth.tar`, 'README name: VAN-Small, 81.1 top-1.')],
  ['van_b2', [64, 128, 320, 512], [3, 3, 12, 3], vanCfg(`${HF}/VAN-Base-original/resolve/main/van_base_828.pth.tar`, 'README name: VAN-Base, 82.8 top-1.')],
  ['van_b3', [64, 128, 320, 512], [3, 5, 27, 3], vanCfg(`${HF}/VAN-Large-original/resolve/main/van_large_839.pth.tar`, 'README name: VAN-Large, 83.9 top-1.')],
  ['van_b4', [64, 128, 320, 512], [3, 6, 40, 3], vanCfg(undefined, 'No official checkpoint URL.')],
  ['van_b5', [96, 192, 480, 768], [3, 3, 24, 3], vanCfg(undefined, 'ImageNet-22k pretrained in the paper; no official URL.')],
  ['van_b6', [96, 192, 384, 768], [6, 6, 90, 6], vanCfg(undefined, 'ImageNet-22k pretrained at 384px in the paper; no official URL.')],
];

for (const [name, embedDims, depths, cfg] of VARIANTS) {
  registerModel({
    name,
    architecture: 'VAN',
    pretrainedCfg: cfg,
    depths,
    build: (o: ModelOptions) =>
      new VAN({ embedDims, depths: stageDepths(o, depths), mlpRatios: [8, 8, 4, 4], normEps: 1e-6, numClasses: o.numClasses, inChans: o.inChans, dropRate: o.dropRate, dropPathRate: o.dropPathRate }),
  });
}

/**
 * vizoo's own small VAN for 28x28 greyscale images, trained on Fashion-MNIST with `vizoo train`; its weights
 * ship in weights/van_fmnist.safetensors (see weights/README.md for the recipe and accuracy).
 */
registerModel({
  name: 'van_fmnist',
  architecture: 'VAN',
  pretrainedCfg: {
    inputSize: [1, 28, 28],
    cropPct: 1,
    interpolation: 'bilinear',
    mean: [0.286],
    std: [0.353],
    numClasses: 10,
    labels: 'fashion-mnist',
    sha256: '289c4309850511c2d0500e64f1ee77f57d8f0add84fa2e9300981e786ee692e9',
    firstConv: 'patch_embed1.proj',
    classifier: 'head',
    notes: 'Not an official variant: dims 32/64/128/192, depths 1/1/2/1, trained by vizoo on Fashion-MNIST: 90.94% test top-1 (weights/README.md).',
  },
  depths: [1, 1, 2, 1],
  build: (o: ModelOptions) =>
    new VAN({ embedDims: [32, 64, 128, 192], depths: stageDepths(o, [1, 1, 2, 1]), mlpRatios: [4, 4, 4, 4], normEps: 1e-6, numClasses: o.numClasses ?? 10, inChans: o.inChans ?? 1, dropRate: o.dropRate, dropPathRate: o.dropPathRate }),
});
