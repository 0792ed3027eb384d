/**
 * SOFT / SOFT-Norm (Lu et al., NeurIPS 2021 / IJCV 2024), official code fudan-zvg/SOFT @d3febc3
 * `models/softmax_free_vision_transformer.py`: a PVT-like pyramid whose stages 1-3 use post-norm
 * softmax-free (Gaussian-kernel Nystrom) blocks and whose stage 4 is a pre-norm softmax ViT stage with a
 * cls token. Learned position embeddings of a 224px grid are bilinearly resized to the actual grid.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { Module, ModuleList, Sequential, type Parameter } from '../nn/module.js';
import { BatchNorm2d, Conv2d, dropPathSchedule, Identity, LayerNorm, Linear, ReLU } from '../nn/layers.js';
import { torchDefaultBias, torchDefaultWeight, truncNormal } from '../nn/init.js';
import { vitInit } from '../nn/init_schemes.js';
import * as F from '../nn/functional.js';
import { type Pair, pair } from '../nn/functional.js';
import { PvtBlock } from '../blocks/attention.js';
import { SoftmaxFreeTransformerBlock } from '../blocks/soft_attention.js';
import { Backbone, type FeatureInfo, type InputSizeSupport } from './backbone.js';
import { type ModelOptions, type PretrainedConfig, imageSize, imagenetConfig, registerModel, stageDepths } from './registry.js';

/**
 * SOFT `PatchEmbed`: the stem ("kernel_size 7") is three 3x3 conv-BN-ReLU (strides 2, 1, 2 through 32
 * channels), the later stages one stride-2 3x3 conv-BN-ReLU. Keys proj.{0,1,3,4,6,7} / proj.{0,1}.
 */
export class SoftPatchEmbed extends Module {
  readonly proj: Sequential;

  constructor(stem: boolean, inChans: number, embedDim: number) {
    super();
    const cbr = (i: number, o: number, s: number) => [new Conv2d(i, o, 3, { stride: s, padding: 1 }), new BatchNorm2d(o), new ReLU()];
    this.proj = this.add('proj', new Sequential(...(stem ? [...cbr(inChans, 32, 2), ...cbr(32, 32, 1), ...cbr(32, embedDim, 2)] : cbr(inChans, embedDim, 2))));
  }

  /** (B, H, W, Cin) -> (B, ceil(H/s), ceil(W/s), C). */
  forward(x: Tensor): Tensor {
    return this.proj.forward(x);
  }
}

export interface SoftConfig {
  /**
   * img_size and patch_size only gate construction, as in the official code: each PatchEmbed asserts that its
   * img_size (img, img/4, img/8, img/16) is divisible by its patch (patch_size, 2, 2, 2). The forward takes
   * any input (position embeddings are resized to the actual grid).
   */
  imgSize?: number | Pair;
  patchSize?: number;
  embedDims: number[];
  numHeads: number[];
  depths: number[];
  mlpRatios?: number[];
  srRatios?: number[];
  qkvBias?: boolean;
  qkScale?: number | null;
  inChans?: number;
  numClasses?: number;
  /** Position-embedding grid (official: 224 / 4, fixed regardless of img_size). */
  posGrid?: number;
  newtonMaxIter?: number;
  /** SOFT-Norm blocks in stages 1-3. */
  normalized?: boolean;
  normEps?: number;
  dropRate?: number;
  attnDropRate?: number;
  dropPathRate?: number;
}

/** Depthwise V-conv size of the SOFT stages. */
const CONV_SIZES = [9, 5, 3];

/** The official PatchEmbed assertions on img_size, per axis: img % patch, then (img // 4s) % 2 for s = 1, 2, 4. */
export function checkSoftImgSize(imgSize: number | Pair, patchSize: number): void {
  for (const [i, div, patch] of [[1, 1, patchSize], [2, 4, 2], [3, 8, 2], [4, 16, 2]] as const) {
    const size = pair(imgSize).map((v) => Math.floor(v / div));
    if (size.some((v) => v % patch)) throw new Error(`SOFT: patch_embed${i} needs img_size ${size.join('x')} divisible by ${patch} (img_size ${pair(imgSize).join('x')})`);
  }
}

export class SoftmaxFreeVisionTransformer extends Backbone {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly posEmbeds: Parameter[] = [];
  readonly cls_token: Parameter;
  readonly patchEmbeds: SoftPatchEmbed[] = [];
  readonly softStages: ModuleList<SoftmaxFreeTransformerBlock>[] = [];
  readonly block4: ModuleList<PvtBlock>;
  readonly norm: LayerNorm;
  readonly head: Linear | Identity;
  readonly posGrid: number;

  constructor(cfg: SoftConfig) {
    super();
    const { embedDims: dims, numHeads, depths } = cfg;
    if (dims.length !== 4 || depths.length !== 4 || numHeads.length !== 4) throw new Error('SOFT: embedDims, numHeads and depths need 4 stages');
    checkSoftImgSize(cfg.imgSize ?? 224, cfg.patchSize ?? 4);
    const sr = cfg.srRatios ?? [8, 4, 2, 1];
    this.numClasses = cfg.numClasses ?? 1000;
    this.posGrid = cfg.posGrid ?? 56;
    const g = this.posGrid;
    const grids = [g, g / 2, g / 4, g / 8];
    for (let i = 0; i < 4; i++) {
      const n = i < 3 ? grids[i]! ** 2 : grids[3]! ** 2 + 1;
      this.posEmbeds.push(this.param(`pos_embed${i + 1}`, [1, n, dims[i]!], truncNormal(0.02)));
    }
    this.cls_token = this.param('cls_token', [1, 1, dims[3]!], truncNormal(0.02));
    for (let i = 0; i < 4; i++) {
      this.patchEmbeds.push(this.add(`patch_embed${i + 1}`, new SoftPatchEmbed(i === 0, i === 0 ? (cfg.inChans ?? 3) : dims[i - 1]!, dims[i]!)));
    }
    const total = depths.reduce((a, b) => a + b, 0);
    const rate = cfg.dropPathRate ?? 0;
    const dpr = dropPathSchedule(total, rate);
    let cur = 0;
    for (let i = 0; i < 3; i++) {
      const blocks = Array.from(
        { length: depths[i]! },
        (_, j) => new SoftmaxFreeTransformerBlock(dims[i]!, numHeads[i]!, sr[i]!, CONV_SIZES[i]!, { dropPath: dpr[cur + j]!, maxIter: cfg.newtonMaxIter ?? 20, normalized: cfg.normalized }),
      );
      this.softStages.push(this.add(`block${i + 1}`, new ModuleList(blocks)));
      cur += depths[i]!;
    }
    const eps = cfg.normEps ?? 1e-6;
    this.block4 = this.add(
      'block4',
      new ModuleList(
        Array.from(
          { length: depths[3]! },
          (_, j) =>
            new PvtBlock(dims[3]!, numHeads[3]!, {
              mlpRatio: cfg.mlpRatios?.[3] ?? 4,
              qkvBias: cfg.qkvBias ?? false,
              qkScale: cfg.qkScale,
              drop: cfg.dropRate,
              attnDrop: cfg.attnDropRate,
              dropPath: dpr[cur + j]!,
              srRatio: sr[3]!,
              normEps: eps,
            }),
        ),
      ),
    );
    this.norm = this.add('norm', new LayerNorm(dims[3]!, eps));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(dims[3]!, this.numClasses) : new Identity());
    this.featureInfo = dims.map((c, i) => ({ channels: c, reduction: 4 * 2 ** i, module: i < 3 ? `block${i + 1}` : 'norm' }));
    // The official _init_weights (Linear trunc_normal .02 + zero bias, LN (1, 0)) runs before SOFT-Norm's
    // constructor replaces blocks 1-3, whose Linears therefore keep PyTorch's default init.
    this.apply(vitInit);
    if (cfg.normalized) {
      for (const stage of this.softStages) {
        stage.apply((m) => {
          if (m instanceof Linear) {
            m.weight.init = torchDefaultWeight;
            if (m.bias) m.bias.init = torchDefaultBias(m.inFeatures);
          }
        });
      }
    }
  }

  override readonly inputSizeSupport: InputSizeSupport = {
    kind: 'any',
    note: 'position embeddings of fixed 56/28/14/7 grids are resized to the input at run time (official)',
  };

  /** The (1, Np, C) embedding of a square grid, bilinearly resized (align_corners=False) to (1, H*W, C). */
  private resizedPos(pos: Tensor, h: number, w: number): Tensor {
    const [, n, c] = pos.shape as [number, number, number];
    const s = Math.trunc(Math.sqrt(n));
    return tf.reshape(F.resizeBilinear(tf.reshape(pos, [1, s, s, c]) as Tensor4D, [h, w]), [1, h * w, c]);
  }

  /** Stages 1-3: NHWC -> NHWC. */
  private softStage(i: number, x: Tensor): Tensor {
    return tf.tidy(() => {
      let y = this.patchEmbeds[i]!.forward(x);
      const [, h, w, c] = y.shape as [number, number, number, number];
      y = tf.add(y, tf.reshape(this.resizedPos(this.posEmbeds[i]!.value, h, w), [1, h, w, c]));
      for (const blk of this.softStages[i]!) y = blk.forward(y);
      return y;
    });
  }

  /** Stage 4 and the final norm: NHWC -> tokens (B, 1 + H*W, C) and the grid. */
  private lastStage(x: Tensor): { tokens: Tensor; h: number; w: number } {
    let h = 0;
    let w = 0;
    const tokens = tf.tidy(() => {
      const m = this.patchEmbeds[3]!.forward(x);
      const [b, hh, ww, c] = m.shape as [number, number, number, number];
      [h, w] = [hh, ww];
      const pos = this.posEmbeds[3]!.value;
      const posCls = tf.slice(pos, [0, 0, 0], [1, 1, c]);
      const posGrid = this.resizedPos(tf.slice(pos, [0, 1, 0], [1, -1, c]), h, w);
      const cls = tf.tile(this.cls_token.value, [b, 1, 1]);
      let y = tf.add(tf.concat([cls, tf.reshape(m, [b, h * w, c])], 1), tf.concat([posCls, posGrid], 1));
      for (const blk of this.block4) y = blk.forward(y, h, w);
      return this.norm.forward(y);
    });
    return { tokens, h, w };
  }

  checkpointUnits(): Module[] {
    return [...this.softStages.flatMap((s) => s.items), ...this.block4.items];
  }

  /** Stage maps (NHWC); stage 4 = its patch tokens after the final norm. */
  forwardIntermediates(x: Tensor, indices: number[] = [0, 1, 2, 3]): Tensor[] {
    return tf.tidy(() => {
      const outs: Tensor[] = [];
      const last = Math.max(...indices);
      let y = x;
      for (let i = 0; i < Math.min(3, last + 1); i++) {
        y = this.softStage(i, y);
        if (indices.includes(i)) outs.push(y);
      }
      if (last === 3) {
        const { tokens, h, w } = this.lastStage(y);
        const [b, n, c] = tokens.shape as [number, number, number];
        outs.push(tf.reshape(tf.slice(tokens, [0, 1, 0], [b, n - 1, c]), [b, h, w, c]));
      }
      return outs;
    });
  }

  /** The cls token after the final norm: (B, C). */
  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => {
      let y = x;
      for (let i = 0; i < 3; i++) y = this.softStage(i, y);
      const { tokens } = this.lastStage(y);
      const [b, , c] = tokens.shape as [number, number, number];
      return tf.reshape(tf.slice(tokens, [0, 0, 0], [b, 1, c]), [b, c]);
    });
  }

  forwardHead(cls: Tensor): Tensor {
    return this.head.forward(cls);
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.forwardHead(this.forwardFeatures(x)));
  }
}

/** `default_cfg = timm _cfg()` as set by the builders: bicubic, crop_pct 0.9, ImageNet mean/std. */
const softCfg = (name: string, notes: string, weightsPage?: string): PretrainedConfig =>
  imagenetConfig({
    cropPct: 0.9,
    interpolation: 'bicubic',
    weightsPage,
    firstConv: 'patch_embed1.proj.0',
    notes:
      `fudan-zvg/SOFT@d3febc3 models/softmax_free_vision_transformer.py::${name}; preprocessing from the builders' timm _cfg(). ${notes}` +
      ' Checkpoints are Google Drive links (no direct download). The official code advises a CUDA kernel; vizoo computes the torch path with tfjs ops.',
  });

const DRIVE = 'https://drive.google.com/file/d';
type Variant = [string, number[], number[], number[], string, string | undefined];
const SIZES: Variant[] = [
  ['tiny', [64, 128, 320, 512], [2, 4, 10, 16], [1, 2, 3, 2], 'README: 13M, 1.9G, 79.3 top-1 (Norm 79.4).', '1S04DCotIOkP0DaBb8WStQ513z82qT9de'],
  ['small', [64, 128, 320, 512], [2, 4, 10, 16], [1, 3, 20, 4], 'README: 24M (the code has 38.9M), 3.3G, 82.2 top-1 (Norm 82.4).', undefined],
  ['medium', [64, 128, 288, 512], [2, 4, 9, 16], [1, 3, 29, 5], 'README: 45M, 7.2G, 82.9 top-1 (Norm 83.1).', undefined],
  ['large', [64, 128, 320, 512], [2, 4, 10, 16], [1, 3, 40, 5], 'README: 64M, 11.0G, 83.1 top-1 (Norm 83.3).', undefined],
  ['huge', [64, 128, 352, 512], [2, 4, 11, 16], [1, 5, 49, 5], 'README: 87M, 16.3G, 83.3 top-1 (Norm 83.4).', undefined],
];
const NORM_DRIVE: Record<string, string> = {
  tiny: '1Isy5b9v_4pyIXDqhKPNRq3WKH0etDlfl',
  small: '1OBjn7FzVdNP1Urqxq7X0yDykyPhxAAW1',
  medium: '1K2C6daaJn3jwurWh38uvV7rexirWjuzh',
  large: '1aRYuF_gbBGyiXUDKEcpHJmM04SdvTUdP',
};

for (const [size, embedDims, numHeads, depths, notes, drive] of SIZES) {
  for (const normalized of [false, true]) {
    const name = normalized ? `soft_norm_${size}` : `soft_${size}`;
    const id = normalized ? NORM_DRIVE[size] : drive;
    registerModel({
      name,
      architecture: normalized ? 'SOFT-Norm' : 'SOFT',
      pretrainedCfg: softCfg(name, notes, id ? `${DRIVE}/${id}/view` : undefined),
      depths,
      build: (o: ModelOptions) =>
        new SoftmaxFreeVisionTransformer({
          imgSize: imageSize(o),
          patchSize: 4,
          embedDims,
          numHeads,
          depths: stageDepths(o, depths),
          mlpRatios: [8, 8, 4, 4],
          srRatios: [8, 4, 2, 1],
          qkvBias: true,
          normEps: 1e-6,
          normalized,
          numClasses: o.numClasses,
          inChans: o.inChans,
          dropRate: o.dropRate,
          dropPathRate: o.dropPathRate,
        }),
    });
  }
}
