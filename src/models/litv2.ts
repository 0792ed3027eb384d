/**
 * LITv2 (Pan, Cai, Zhuang; "Fast Vision Transformers with HiLo Attention", NeurIPS 2022), official code
 * ziplab/LITv2 @7501c86 `classification/models/litv2.py`. Four stages: the first two are MSA-free (ConvFFN
 * blocks only), the last two use HiLo attention; deformable token merging (DTM) between stages; LayerNorm,
 * global average pool and a linear head. No position embedding: the depthwise convs of the ConvFFNs and
 * DTM carry position.
 *
 * Shapes: the official classification model accepts exactly its img_size; vizoo accepts any size, with the
 * detection backbone's semantics (patch embed pads to a multiple of the patch, HiLo pads to a multiple of
 * its window, DTM floors odd sizes), which are the same computation at the official sizes.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, ModuleList } from '../nn/module.js';
import { Conv2d, dropPathSchedule, Identity, LayerNorm, Linear } from '../nn/layers.js';
import { initConvFanOut, vitInit } from '../nn/init_schemes.js';
import { ConvFFNBlock, HiLoBlock } from '../blocks/hilo.js';
import { DWConvMlp } from '../blocks/conv_mlp.js';
import { DTM } from '../blocks/dtm.js';
import { DownsamplingStage } from '../blocks/stage.js';
import { Backbone, type FeatureInfo } from './backbone.js';
import { type ModelOptions, type PretrainedConfig, imagenetConfig, registerModel, stageDepths } from './registry.js';

export interface LitV2Config {
  embedDim: number;
  depths: number[];
  numHeads: number[];
  patchSize?: number;
  inChans?: number;
  numClasses?: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  qkScale?: number | null;
  /** Per stage: 1 = HiLo blocks, 0 = ConvFFN-only blocks. */
  hasMsa?: number[];
  /** Fraction of Lo-Fi heads. */
  alpha?: number;
  /** HiLo window size per stage (used where hasMsa is 1). */
  localWs?: number[];
  dropRate?: number;
  dropPathRate?: number;
}

/** Non-overlapping patch conv, then LayerNorm over channels. Keys proj.*, norm.*. */
export class LitPatchEmbed extends Module {
  readonly proj: Conv2d;
  readonly norm: LayerNorm;

  constructor(
    readonly patchSize: number,
    inChans: number,
    embedDim: number,
  ) {
    super();
    this.proj = this.add('proj', new Conv2d(inChans, embedDim, patchSize, { stride: patchSize }));
    this.norm = this.add('norm', new LayerNorm(embedDim));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const [, h, w] = x.shape as number[];
      const p = this.patchSize;
      const padB = (p - (h! % p)) % p;
      const padR = (p - (w! % p)) % p;
      const xp = padB || padR ? tf.pad(x, [[0, 0], [0, padB], [0, padR], [0, 0]]) : x;
      return this.norm.forward(this.proj.forward(xp));
    });
  }
}

/** One stage (`LITLayer`): blocks, then DTM except after the last stage. */
type LitLayer = DownsamplingStage<HiLoBlock | ConvFFNBlock, DTM>;

/** The official init: DWMlp convs N(0, sqrt(2/fan_out)), Linear trunc_normal(.02) + zero bias, LN (1, 0). */
function litInit(m: Module): void {
  if (m instanceof DWConvMlp) initConvFanOut(m.dwconv.dwconv);
  else vitInit(m);
}

export class LITv2 extends Backbone {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly patch_embed: LitPatchEmbed;
  readonly layers: ModuleList<LitLayer>;
  readonly norm: LayerNorm;
  readonly head: Linear | Identity;

  constructor(cfg: LitV2Config) {
    super();
    const { embedDim, depths, numHeads } = cfg;
    const n = depths.length;
    const hasMsa = cfg.hasMsa ?? [0, 0, 1, 1];
    const localWs = cfg.localWs ?? [0, 0, 2, 1];
    const total = depths.reduce((a, b) => a + b, 0);
    const rate = cfg.dropPathRate ?? 0;
    const dpr = dropPathSchedule(total, rate);
    this.numClasses = cfg.numClasses ?? 1000;
    this.patch_embed = this.add('patch_embed', new LitPatchEmbed(cfg.patchSize ?? 4, cfg.inChans ?? 3, embedDim));
    const layers: LitLayer[] = [];
    let cur = 0;
    for (let i = 0; i < n; i++) {
      const dim = embedDim * 2 ** i;
      const blocks = Array.from({ length: depths[i]! }, (_, j) => {
        const common = { mlpRatio: cfg.mlpRatio ?? 4, drop: cfg.dropRate ?? 0, dropPath: dpr[cur + j]! };
        return hasMsa[i] === 1
          ? new HiLoBlock(dim, { ...common, numHeads: numHeads[i]!, qkvBias: cfg.qkvBias ?? true, qkScale: cfg.qkScale ?? null, windowSize: localWs[i]!, alpha: cfg.alpha ?? 0.5 })
          : new ConvFFNBlock(dim, common);
      });
      layers.push(new DownsamplingStage(blocks, i < n - 1 ? new DTM(dim) : null));
      cur += depths[i]!;
    }
    this.layers = this.add('layers', new ModuleList(layers));
    const numFeatures = embedDim * 2 ** (n - 1);
    this.norm = this.add('norm', new LayerNorm(numFeatures));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(numFeatures, this.numClasses) : new Identity());
    this.featureInfo = Array.from({ length: n }, (_, i) => ({
      channels: embedDim * 2 ** i,
      reduction: (cfg.patchSize ?? 4) * 2 ** i,
      module: i < n - 1 ? `layers.${i}.blocks` : 'norm',
    }));
    this.apply(litInit);
  }

  checkpointUnits(): Module[] {
    return this.layers.items.flatMap((l) => l.blocks.items);
  }

  /** NHWC image -> per-stage NHWC maps: each stage's block output before its DTM; the last after the final norm. */
  forwardIntermediates(x: Tensor, indices: number[] = this.featureInfo.map((_, i) => i)): Tensor[] {
    return tf.tidy(() =>
      this.runStages(
        this.patch_embed.forward(x),
        indices,
        // Stage i's input is the previous stage's blocks output through that stage's DTM.
        (i, y) => this.layers.items[i]!.forwardBlocks(i > 0 ? this.layers.items[i - 1]!.downsample!.forward(y) : y),
        (i, f) => (i === this.layers.length - 1 ? this.norm.forward(f) : f),
      ),
    );
  }

  /** Final-norm tokens averaged over all positions: (B, C). */
  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => tf.mean(this.forwardIntermediates(x, [this.layers.length - 1])[0]!, [1, 2]));
  }

  forwardHead(pooled: Tensor): Tensor {
    return this.head.forward(pooled);
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.forwardHead(this.forwardFeatures(x)));
  }
}

const REL = 'https://github.com/ziplab/LITv2/releases/download/v1.0';

/** classification/data/build.py (Swin's): resize to 256/224 * size then center-crop (TEST.CROP), bicubic. */
const litCfg = (url: string, notes: string, size = 224, cropPct = 0.875): PretrainedConfig =>
  imagenetConfig({
    inputSize: [3, size, size],
    cropPct,
    interpolation: 'bicubic',
    url,
    firstConv: 'patch_embed.proj',
    notes:
      `ziplab/LITv2@7501c86 classification/models/litv2.py; ${notes} Training: drop-path as noted, DTM offset convs at lr x ${DTM.offsetLrMult} ` +
      '(OFFSET_LR_MULTI). The official DTM needs a compiled CUDA DCN op; vizoo computes it with tfjs ops.',
  });

const VARIANTS: [string, number, number[], number[], PretrainedConfig][] = [
  ['litv2_s', 96, [2, 2, 6, 2], [3, 6, 12, 24], litCfg(`${REL}/litv2_s.pth`, 'configs/litv2-small.yaml, drop-path 0.2; 82.0 top-1.')],
  ['litv2_m', 96, [2, 2, 18, 2], [3, 6, 12, 24], litCfg(`${REL}/litv2_m.pth`, 'configs/litv2-medium.yaml, drop-path 0.3; 83.3 top-1.')],
  ['litv2_b', 128, [2, 2, 18, 2], [4, 8, 16, 32], litCfg(`${REL}/litv2_b.pth`, 'configs/litv2-base.yaml, drop-path 0.5; 83.6 top-1.')],
  [
    'litv2_b_384',
    128,
    [2, 2, 18, 2],
    [4, 8, 16, 32],
    litCfg(`${REL}/litv2_b_384.pth`, 'configs/litv2-base-finetune-384.yaml (TEST.CROP False: direct resize to 384), drop-path 0.5; 84.7 top-1.', 384, 1.0),
  ],
];

for (const [name, embedDim, depths, numHeads, cfg] of VARIANTS) {
  registerModel({
    name,
    architecture: 'LITv2',
    pretrainedCfg: cfg,
    depths,
    build: (o: ModelOptions) =>
      new LITv2({
        embedDim,
        depths: stageDepths(o, depths),
        numHeads,
        alpha: 0.9,
        localWs: [0, 0, 2, 1],
        hasMsa: [0, 0, 1, 1],
        numClasses: o.numClasses,
        inChans: o.inChans,
        dropRate: o.dropRate,
        dropPathRate: o.dropPathRate,
      }),
  });
}
