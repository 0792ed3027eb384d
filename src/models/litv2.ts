/**
 * LITv2 (Pan, Cai, Zhuang; "Fast Vision Transformers with HiLo Attention", NeurIPS 2022), official code
 * ziplab/LITv2 @7501c86 `classification/models/litv2.py`. Four stages: the first two are MSA-free (ConvFFN
 * blocks only), the last two use HiLo attention; deformable token merging (DTM) between stages; LayerNorm,
 * global average pool and a linear head. No position embedding: the depthwise convs of the ConvFFNs and
 * DTM carry position.
 *
 * Shapes: the official classification model accepts exactly its img_size; vizoo accepts any size, with the
 * detection backbone's semantics (patch embed pads to a multiple of the patch, HiLo pads to a multiple of
 * its window, DTM floors odd sizes), which are the same computation at the official sizes. `LITv2Dense` is
 * the detection / segmentation backbone itself (its per-stage norms instead of the classifier).
 */
import { tf, type Tensor } from '../tf.js';
import { Module, ModuleList } from '../nn/module.js';
import { Conv2d, dropPathSchedule, Identity, LayerNorm, Linear } from '../nn/layers.js';
import { initConvFanOut, vitInit } from '../nn/init_schemes.js';
import { padToMultiple } from '../nn/functional.js';
import { ConvFFNBlock, HiLoBlock } from '../blocks/hilo.js';
import { DWConvMlp } from '../blocks/conv_mlp.js';
import { DTM } from '../blocks/dtm.js';
import { DownsamplingStage } from '../blocks/stage.js';
import { Backbone, type FeatureInfo, type InputSizeSupport } from './backbone.js';
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
  /** LayerNorm after the patch conv (official patch_norm, default true). */
  patchNorm?: boolean;
  dropRate?: number;
  dropPathRate?: number;
}

/**
 * Non-overlapping patch conv, then (patch_norm) LayerNorm over channels. Keys proj.*, norm.*. Sizes that the
 * patch does not divide are zero-padded at the bottom and right first (the detection `PatchEmbed`).
 */
export class LitPatchEmbed extends Module {
  readonly proj: Conv2d;
  readonly norm: LayerNorm | null;

  constructor(
    readonly patchSize: number,
    inChans: number,
    embedDim: number,
    norm = true,
  ) {
    super();
    this.proj = this.add('proj', new Conv2d(inChans, embedDim, patchSize, { stride: patchSize }));
    this.norm = norm ? this.add('norm', new LayerNorm(embedDim)) : null;
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const y = this.proj.forward(padToMultiple(x, this.patchSize, this.patchSize));
      return this.norm ? this.norm.forward(y) : y;
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

/** Stage i's width. */
const stageDim = (cfg: LitV2Config, i: number) => cfg.embedDim * 2 ** i;

/** The stages both official forms build (`LITLayer`s): blocks of width embedDim * 2^i, DTM between stages. */
function litStages(cfg: LitV2Config): LitLayer[] {
  const { depths, numHeads } = cfg;
  const n = depths.length;
  const hasMsa = cfg.hasMsa ?? [0, 0, 1, 1];
  const localWs = cfg.localWs ?? [0, 0, 2, 1];
  const dpr = dropPathSchedule(depths.reduce((a, b) => a + b, 0), cfg.dropPathRate ?? 0);
  let cur = 0;
  return depths.map((depth, i) => {
    const dim = stageDim(cfg, i);
    const blocks = Array.from({ length: depth }, (_, j) => {
      const common = { mlpRatio: cfg.mlpRatio ?? 4, drop: cfg.dropRate ?? 0, dropPath: dpr[cur + j]! };
      return hasMsa[i] === 1
        ? new HiLoBlock(dim, { ...common, numHeads: numHeads[i]!, qkvBias: cfg.qkvBias ?? true, qkScale: cfg.qkScale ?? null, windowSize: localWs[i]!, alpha: cfg.alpha ?? 0.5 })
        : new ConvFFNBlock(dim, common);
    });
    cur += depth;
    return new DownsamplingStage(blocks, i < n - 1 ? new DTM(dim) : null);
  });
}

/**
 * Runs the stages: stage i's input is the previous stage's block output through that stage's DTM; keeps
 * output(i, blocks output of stage i) for the stages in `indices`.
 */
function runLitStages(patchEmbed: LitPatchEmbed, layers: LitLayer[], x: Tensor, indices: number[], output: (i: number, y: Tensor) => Tensor): Tensor[] {
  return tf.tidy(() => {
    const outs: Tensor[] = [];
    let y = patchEmbed.forward(x);
    for (let i = 0; i <= Math.max(...indices); i++) {
      y = layers[i]!.forwardBlocks(i > 0 ? layers[i - 1]!.downsample!.forward(y) : y);
      if (indices.includes(i)) outs.push(output(i, y));
    }
    return outs;
  });
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
    const n = cfg.depths.length;
    this.numClasses = cfg.numClasses ?? 1000;
    this.patch_embed = this.add('patch_embed', new LitPatchEmbed(cfg.patchSize ?? 4, cfg.inChans ?? 3, cfg.embedDim, cfg.patchNorm ?? true));
    this.layers = this.add('layers', new ModuleList(litStages(cfg)));
    const numFeatures = stageDim(cfg, n - 1);
    this.norm = this.add('norm', new LayerNorm(numFeatures));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(numFeatures, this.numClasses) : new Identity());
    this.featureInfo = Array.from({ length: n }, (_, i) => ({
      channels: stageDim(cfg, i),
      reduction: (cfg.patchSize ?? 4) * 2 ** i,
      module: i < n - 1 ? `layers.${i}.blocks` : 'norm',
    }));
    this.apply(litInit);
  }

  override readonly inputSizeSupport: InputSizeSupport = {
    kind: 'any',
    note: 'no position embedding; any H x W runs, padded as the official detection backbone pads',
  };

  checkpointUnits(): Module[] {
    return this.layers.items.flatMap((l) => l.blocks.items);
  }

  /** NHWC image -> per-stage NHWC maps: each stage's block output before its DTM; the last after the final norm. */
  forwardIntermediates(x: Tensor, indices: number[] = this.featureInfo.map((_, i) => i)): Tensor[] {
    return runLitStages(this.patch_embed, this.layers.items, x, indices, (i, f) => (i === this.layers.length - 1 ? this.norm.forward(f) : f));
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

/**
 * LITv2's dense-prediction backbone (detection/mmdet and segmentation/mmseg `backbones/litv2.py`): the same
 * stages on any H x W (patch embed and HiLo pad bottom/right, DTM floors odd sizes), no head; for each stage
 * in `outIndices`, in stage order, the stage's block output before its DTM through its own LayerNorm
 * `norm{i}`, except stage 0 in the detection form (`normFirst` false), which has none.
 * Keys: patch_embed.*, layers.*, norm{i}.*.
 */
export class LITv2Dense extends Module {
  readonly patch_embed: LitPatchEmbed;
  readonly layers: ModuleList<LitLayer>;
  /** Stages whose maps are returned, ascending. */
  readonly outIndices: number[];
  readonly norms = new Map<number, LayerNorm>();

  constructor(cfg: LitV2Config & { outIndices?: number[]; normFirst?: boolean }) {
    super();
    const n = cfg.depths.length;
    this.outIndices = [...new Set(cfg.outIndices ?? Array.from({ length: n }, (_, i) => i))].sort((a, b) => a - b);
    for (const i of this.outIndices) if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`LITv2: out_indices ${i} is not a stage (0..${n - 1})`);
    this.patch_embed = this.add('patch_embed', new LitPatchEmbed(cfg.patchSize ?? 4, cfg.inChans ?? 3, cfg.embedDim, cfg.patchNorm ?? true));
    this.layers = this.add('layers', new ModuleList(litStages(cfg)));
    for (const i of this.outIndices) if (i > 0 || cfg.normFirst) this.norms.set(i, this.add(`norm${i}`, new LayerNorm(stageDim(cfg, i))));
    this.apply(litInit);
  }

  /** NHWC image -> one NHWC map per out index. */
  forward(x: Tensor): Tensor[] {
    return runLitStages(this.patch_embed, this.layers.items, x, this.outIndices, (i, y) => this.norms.get(i)?.forward(y) ?? y.clone());
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
