/**
 * NAT and DiNAT: Neighborhood Attention Transformer (Hassani, Walton, Li, Li, Shi; CVPR 2023, arXiv 2204.07143)
 * and Dilated NAT (Hassani, Shi; arXiv 2209.15001). Official code SHI-Labs/Neighborhood-Attention-Transformer
 * @d334f5b `classification/{nat,dinat}.py` with NATTEN 0.17.5 (docs/families/nat.md#nat-and-dinat).
 * Conv tokenizer (two stride-2 3x3 convs) -> levels of NA layers, each but the last followed by a stride-2 conv
 * downsampler -> LayerNorm -> token mean -> Linear. DiNAT is the same network with per-layer dilations.
 * Tokens stay channels-last (B, H, W, C) throughout, as vizoo's NHWC maps.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, ModuleList, Sequential, type Layer } from '../nn/module.js';
import { Conv2d, Dropout, dropPathSchedule, Identity, LayerNorm, Linear } from '../nn/layers.js';
import { vitInit } from '../nn/init_schemes.js';
import { NATLayer } from '../blocks/neighborhood_attention.js';
import { DownsamplingStage } from '../blocks/stage.js';
import { Backbone, type FeatureInfo } from './backbone.js';
import { type ModelOptions, type PretrainedConfig, imagenetConfig, perBlock, registerModel, stageDepths } from './registry.js';

/**
 * Two 3x3 stride-2 convs (C/2 then C, no activation between) and a LayerNorm: 1/4 resolution
 * (docs/families/nat.md#conv-tokenizer).
 */
export class ConvTokenizer extends Module implements Layer {
  readonly proj: Sequential;
  readonly norm: LayerNorm | null;

  constructor(inChans = 3, embedDim = 96, norm = true) {
    super();
    const half = Math.floor(embedDim / 2);
    this.proj = this.add('proj', new Sequential(new Conv2d(inChans, half, 3, { stride: 2, padding: 1 }), new Conv2d(half, embedDim, 3, { stride: 2, padding: 1 })));
    this.norm = norm ? this.add('norm', new LayerNorm(embedDim)) : null;
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = this.proj.forward(x);
      return this.norm ? this.norm.forward(y) : y;
    });
  }
}

/**
 * 3x3 stride-2 conv C -> 2C without bias, then LayerNorm(2C): the norm comes after the conv
 * (docs/families/nat.md#conv-downsampler).
 */
export class ConvDownsampler extends Module implements Layer {
  readonly reduction: Conv2d;
  readonly norm: LayerNorm;

  constructor(dim: number) {
    super();
    this.reduction = this.add('reduction', new Conv2d(dim, 2 * dim, 3, { stride: 2, padding: 1, bias: false }));
    this.norm = this.add('norm', new LayerNorm(2 * dim));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.norm.forward(this.reduction.forward(x)));
  }
}

/** Options the NA backbones (hierarchical and isotropic) share. */
export interface NABackboneOptions {
  kernelSize?: number;
  mlpRatio?: number;
  inChans?: number;
  numClasses?: number;
  qkvBias?: boolean;
  qkScale?: number | null;
  dropRate?: number;
  dropPathRate?: number;
}

export interface NatConfig extends NABackboneOptions {
  embedDim: number;
  mlpRatio: number;
  depths: number[];
  numHeads: number[];
  /** Per level, per layer dilation (DiNAT); absent means 1 everywhere (NAT). */
  dilations?: number[][] | null;
  layerScale?: number | null;
}

/** What a hierarchical NA backbone plugs into the shared skeleton. */
interface HierarchicalNAParts {
  /** Its name in error messages. */
  name: string;
  /** Image -> tokens (B, H/stride, W/stride, embedDim). */
  embed: Module & Layer;
  stride: number;
  /** State-dict name of the level list (`levels` in NAT/DiNAT, `layers` in DiNAT_s). */
  levelsKey: string;
  /** The 2x downsampler after level i (dim -> 2 dim). */
  downsample: (dim: number) => Module & Layer;
}

/**
 * The hierarchical NA backbone NAT, DiNAT and DiNAT_s share: embedding -> levels of NA layers at
 * embedDim * 2^i channels, each but the last followed by a 2x downsampler -> LayerNorm -> token mean -> Linear.
 */
export abstract class HierarchicalNA extends Backbone {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly patchEmbed: Module & Layer;
  readonly posDrop: Dropout;
  readonly levels: ModuleList<DownsamplingStage<NATLayer>>;
  readonly norm: LayerNorm;
  readonly head: Linear | Identity;

  protected constructor(cfg: NatConfig, parts: HierarchicalNAParts) {
    super();
    const { embedDim, depths, numHeads } = cfg;
    if (numHeads.length !== depths.length) throw new Error(`${parts.name}: depths and num_heads need one entry per level`);
    if (cfg.dilations && (cfg.dilations.length !== depths.length || cfg.dilations.some((d, i) => d.length !== depths[i]))) {
      throw new Error(`${parts.name}: dilations need one list per level with one entry per layer`);
    }
    this.numClasses = cfg.numClasses ?? 1000;
    const nLevels = depths.length;
    const numFeatures = embedDim * 2 ** (nLevels - 1);
    this.patchEmbed = this.add('patch_embed', parts.embed);
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
            mlpRatio: cfg.mlpRatio,
            qkvBias: cfg.qkvBias,
            qkScale: cfg.qkScale,
            drop: cfg.dropRate ?? 0,
            dropPath: dpr[cur + j],
            layerScale: cfg.layerScale ?? null,
          }),
      );
      cur += depth;
      return new DownsamplingStage(layers, i < nLevels - 1 ? parts.downsample(dim) : null);
    });
    this.levels = this.add(parts.levelsKey, new ModuleList(levels));
    this.norm = this.add('norm', new LayerNorm(numFeatures));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(numFeatures, this.numClasses) : new Identity());
    // Feature pyramid: each level's map before its downsampler.
    this.featureInfo = depths.map((_, i) => ({ channels: embedDim * 2 ** i, reduction: parts.stride * 2 ** i, module: `${parts.levelsKey}.${i}.blocks` }));
    this.apply(vitInit);
  }

  /** NHWC image -> embedding output, then each level's output after its downsampler (the official `level(x)`). */
  forwardLevels(x: Tensor): Tensor[] {
    return tf.tidy(() => {
      const outs = [this.posDrop.forward(this.patchEmbed.forward(x))];
      for (const level of this.levels) {
        const y = level.forwardBlocks(outs[outs.length - 1]!);
        outs.push(level.downsample ? level.downsample.forward(y) : y);
      }
      return outs;
    });
  }

  checkpointUnits(): Module[] {
    return this.levels.items.flatMap((l) => l.blocks.items);
  }

  forwardIntermediates(x: Tensor, indices: number[] = this.featureInfo.map((_, i) => i)): Tensor[] {
    // Stage i: embedding (i = 0) or the previous level's downsampler, then level i's layers.
    return this.runStages(x, indices, (i, y) => {
      const prev = i === 0 ? this.posDrop.forward(this.patchEmbed.forward(y)) : this.levels.items[i - 1]!.downsample!.forward(y);
      return this.levels.items[i]!.forwardBlocks(prev);
    });
  }

  /** Final LayerNorm and mean over all tokens: (B, C). */
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

/** NAT / DiNAT: conv tokenizer to 1/4, strided-conv downsamplers. */
export class NAT extends HierarchicalNA {
  constructor(cfg: NatConfig) {
    super(cfg, { name: 'NAT', embed: new ConvTokenizer(cfg.inChans ?? 3, cfg.embedDim), stride: 4, levelsKey: 'levels', downsample: (dim) => new ConvDownsampler(dim) });
  }
}

/**
 * The NAT repo registers its models without a default_cfg, so timm's resolve_data_config defaults apply:
 * 224px, crop_pct 0.875, bilinear, ImageNet mean/std.
 */
export const natCfg = (url: string | undefined, notes: string): PretrainedConfig =>
  imagenetConfig({
    cropPct: 0.875,
    interpolation: 'bilinear',
    url,
    notes: `SHI-Labs/Neighborhood-Attention-Transformer@d334f5b; preprocessing = timm defaults (no default_cfg in the repo). ${notes}`,
  });

const NAT_CKPT = 'https://shi-labs.com/projects/nat/checkpoints/CLS';
const DINAT_CKPT = 'https://shi-labs.com/projects/dinat/checkpoints/imagenet1k';

/** DiNAT dilation schedules at 224px (level 0: 56x56 maps, so dilation 8 with kernel 7 spans the map). */
const DILATIONS_MINI = [[1, 8, 1], [1, 4, 1, 4], [1, 2, 1, 2, 1, 2], [1, 1, 1, 1, 1]];
const DILATIONS_18 = [[1, 8, 1], [1, 4, 1, 4], Array.from({ length: 18 }, (_, i) => (i % 2 ? 2 : 1)), [1, 1, 1, 1, 1]];

/** Levels' depths for a `depths` override, with DiNAT's per-layer dilations cut to match. */
export function natDepths(o: ModelOptions, cfg: { depths: number[]; dilations?: number[][] | null }): { depths: number[]; dilations?: number[][] | null } {
  const depths = stageDepths(o, cfg.depths);
  return { depths, dilations: cfg.dilations && perBlock(cfg.dilations, depths, 'DiNAT dilations') };
}

interface Variant {
  name: string;
  architecture: 'NAT' | 'DiNAT';
  cfg: NatConfig;
  pretrained: PretrainedConfig;
}

const VARIANTS: Variant[] = [
  { name: 'nat_mini', architecture: 'NAT', cfg: { embedDim: 64, mlpRatio: 3, depths: [3, 4, 6, 5], numHeads: [2, 4, 8, 16], dropPathRate: 0.2 }, pretrained: natCfg(`${NAT_CKPT}/nat_mini.pth`, 'NAT-Mini: 81.8 top-1, 2.7 GFLOPs.') },
  { name: 'nat_tiny', architecture: 'NAT', cfg: { embedDim: 64, mlpRatio: 3, depths: [3, 4, 18, 5], numHeads: [2, 4, 8, 16], dropPathRate: 0.2 }, pretrained: natCfg(`${NAT_CKPT}/nat_tiny.pth`, 'NAT-Tiny: 83.2 top-1, 4.3 GFLOPs.') },
  { name: 'nat_small', architecture: 'NAT', cfg: { embedDim: 96, mlpRatio: 2, depths: [3, 4, 18, 5], numHeads: [3, 6, 12, 24], dropPathRate: 0.3, layerScale: 1e-5 }, pretrained: natCfg(`${NAT_CKPT}/nat_small.pth`, 'NAT-Small: 83.7 top-1, 7.8 GFLOPs.') },
  { name: 'nat_base', architecture: 'NAT', cfg: { embedDim: 128, mlpRatio: 2, depths: [3, 4, 18, 5], numHeads: [4, 8, 16, 32], dropPathRate: 0.5, layerScale: 1e-5 }, pretrained: natCfg(`${NAT_CKPT}/nat_base.pth`, 'NAT-Base: 84.3 top-1, 13.7 GFLOPs.') },
  { name: 'dinat_mini', architecture: 'DiNAT', cfg: { embedDim: 64, mlpRatio: 3, depths: [3, 4, 6, 5], numHeads: [2, 4, 8, 16], dropPathRate: 0.2, dilations: DILATIONS_MINI }, pretrained: natCfg(`${DINAT_CKPT}/dinat_mini_in1k_224.pth`, 'DiNAT-Mini: 81.8 top-1, 2.7 GFLOPs.') },
  { name: 'dinat_tiny', architecture: 'DiNAT', cfg: { embedDim: 64, mlpRatio: 3, depths: [3, 4, 18, 5], numHeads: [2, 4, 8, 16], dropPathRate: 0.2, dilations: DILATIONS_18 }, pretrained: natCfg(`${DINAT_CKPT}/dinat_tiny_in1k_224.pth`, 'DiNAT-Tiny: 82.7 top-1, 4.3 GFLOPs.') },
  { name: 'dinat_small', architecture: 'DiNAT', cfg: { embedDim: 96, mlpRatio: 2, depths: [3, 4, 18, 5], numHeads: [3, 6, 12, 24], dropPathRate: 0.3, dilations: DILATIONS_18 }, pretrained: natCfg(`${DINAT_CKPT}/dinat_small_in1k_224.pth`, 'DiNAT-Small: 83.8 top-1, 7.8 GFLOPs (no layer scale, unlike NAT-Small).') },
  { name: 'dinat_base', architecture: 'DiNAT', cfg: { embedDim: 128, mlpRatio: 2, depths: [3, 4, 18, 5], numHeads: [4, 8, 16, 32], dropPathRate: 0.5, layerScale: 1e-5, dilations: DILATIONS_18 }, pretrained: natCfg(`${DINAT_CKPT}/dinat_base_in1k_224.pth`, 'DiNAT-Base: 84.4 top-1, 13.7 GFLOPs.') },
  { name: 'dinat_large', architecture: 'DiNAT', cfg: { embedDim: 192, mlpRatio: 2, depths: [3, 4, 18, 5], numHeads: [6, 12, 24, 48], dropPathRate: 0.35, dilations: DILATIONS_18 }, pretrained: natCfg(`${DINAT_CKPT}/dinat_large_in22k_in1k_224.pth`, 'DiNAT-Large (ImageNet-22k pretrained, 1k fine-tuned): 86.6 top-1, 30.6 GFLOPs.') },
];

for (const v of VARIANTS) {
  registerModel({
    name: v.name,
    architecture: v.architecture,
    pretrainedCfg: v.pretrained,
    depths: v.cfg.depths,
    build: (o: ModelOptions) => new NAT({ ...v.cfg, ...natDepths(o, v.cfg), numClasses: o.numClasses, inChans: o.inChans, dropRate: o.dropRate, dropPathRate: o.dropPathRate ?? v.cfg.dropPathRate }),
  });
}
