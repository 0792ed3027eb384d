/**
 * BEVANet: Bilateral Efficient Visual Attention Network for real-time semantic segmentation (Chen et al.,
 * ICIP 2025, arXiv 2508.07300), official code maomao0819/BEVANet `models/*.py`. A PIDNet-style bilateral
 * network: a high-resolution detail branch and a semantic branch of EVA blocks (VAN blocks whose LKA is
 * SDLSKA), fused by PagFM; a large-kernel pyramid pooling (DLKPPM) on the 1/64 semantic map and a
 * boundary-guided fusion (BGAF) feed the 1/8 segmentation head. `BEVANet_CLS_32` is the ImageNet
 * pretraining classifier on the same backbone.
 */
import { tf, type Tensor, type Tensor4D } from '../tf.js';
import { Module, Sequential, type Layer, type LayerModule, type Parameter } from '../nn/module.js';
import { BatchNorm2d, Conv2d, Identity, Lambda, LayerNorm, Linear, ReLU } from '../nn/layers.js';
import { constant } from '../nn/init.js';
import { fanOutConvInit } from '../nn/init_schemes.js';
import { adaptiveAvgPool2d, addRelu, addScaled, avgPool2d, resizeBilinear } from '../nn/functional.js';
import { LayerScaleConvBlock, SpatialAttention } from '../blocks/lka.js';
import { ConvMlp, PWConv, pwProjection } from '../blocks/conv_mlp.js';
import { LSKA, SDLSKA } from '../blocks/lska.js';
import { PagFM, SegmentHead, makeLayer } from '../blocks/pidnet.js';
import { Backbone, type FeatureInfo } from './backbone.js';
import { IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, type ModelOptions, type PretrainedConfig, imagenetConfig, registerModel } from './registry.js';

/** The large-kernel attention inside EVA blocks (`lka`): SDLSKA in every released config, LSKA the config default. */
export type GatingKind = 'SDLSKA' | 'LSKA';

function gatingUnit(kind: GatingKind, dim: number, kernelSize: number): LayerModule {
  return kind === 'LSKA' ? new LSKA(dim, kernelSize) : new SDLSKA(dim, kernelSize);
}

/** BEVANet `SpatialAttention(lka, d_model, kernel_size)`: VAN's attention with PWConv projections. */
export function bevanetSpatialAttention(dim: number, kernelSize: number, kind: GatingKind = 'SDLSKA'): SpatialAttention {
  return new SpatialAttention(dim, gatingUnit(kind, dim, kernelSize), (d) => new PWConv(d));
}

/** BEVANet `MLP(in, hidden)`: VAN's conv MLP with PWConv projections. */
export function bevanetMlp(inFeatures: number, hidden = inFeatures, out = inFeatures, drop = 0): ConvMlp {
  return new ConvMlp(inFeatures, hidden, out, drop, pwProjection);
}

/**
 * The EVA block (`EVAN`): VAN's block equations (layer-scaled residual attention and MLP after BatchNorms)
 * with the large-kernel attention `kind`. Its init (N(0, sqrt(2 / fan_out)) convs, zero biases) covers
 * every sub-conv, CKS included.
 */
export function evanBlock(dim: number, kernelSize: number, mlpExpand = 4, kind: GatingKind = 'SDLSKA', dropPath = 0): LayerScaleConvBlock {
  const blk = new LayerScaleConvBlock(dim, bevanetSpatialAttention(dim, kernelSize, kind), bevanetMlp(dim, Math.trunc(dim * mlpExpand)), dropPath);
  return blk.apply(fanOutConvInit);
}

const bnReluPw = (inC: number, outC: number, pool?: (x: Tensor) => Tensor): Sequential =>
  pool
    ? new Sequential(new Lambda(pool), new BatchNorm2d(inC), new ReLU(), new PWConv(inC, outC, false))
    : new Sequential(new BatchNorm2d(inC), new ReLU(), new PWConv(inC, outC, false));
const bnReluConv3 = (c: number, dilation = 1): Sequential =>
  new Sequential(new BatchNorm2d(c), new ReLU(), new Conv2d(c, c, 3, { padding: dilation, dilation, bias: false }));

/**
 * Deep Large-Kernel Pyramid Pooling (`DLKPPM(inplanes, branch_planes, outplanes)`): DAPPM-style
 * hierarchical fusion of pooled branches (avg-pool k5 s2 / k9 s4 with count_include_pad, adaptive 2x2
 * and 1x1 with PyTorch's overlapping bins), plus an LSKA (K=35) attention branch on the unpooled one.
 */
export class DLKPPM extends Module implements Layer {
  readonly layer_scale_lska: Parameter;
  readonly scale1: Sequential;
  readonly scale2: Sequential;
  readonly scale4: Sequential;
  readonly scale5: Sequential;
  readonly scale0: Sequential;
  readonly bn: BatchNorm2d;
  readonly lska: SpatialAttention;
  readonly process1: Sequential;
  readonly process2: Sequential;
  readonly process_lska: Sequential;
  readonly process4: Sequential;
  readonly process5: Sequential;
  readonly compression: Sequential;
  readonly shortcut: Sequential;

  constructor(inplanes: number, branchPlanes: number, outplanes: number) {
    super();
    const b = branchPlanes;
    this.scale1 = this.add('scale1', bnReluPw(inplanes, b, (x) => avgPool2d(x as Tensor4D, 5, { stride: 2, padding: 2 })));
    this.scale2 = this.add('scale2', bnReluPw(inplanes, b, (x) => avgPool2d(x as Tensor4D, 9, { stride: 4, padding: 4 })));
    this.scale4 = this.add('scale4', bnReluPw(inplanes, b, (x) => adaptiveAvgPool2d(x as Tensor4D, 2)));
    this.scale5 = this.add('scale5', bnReluPw(inplanes, b, (x) => adaptiveAvgPool2d(x as Tensor4D, 1)));
    this.scale0 = this.add('scale0', bnReluPw(inplanes, b));
    this.bn = this.add('bn', new BatchNorm2d(b));
    this.lska = this.add('lska', bevanetSpatialAttention(b, 35, 'LSKA'));
    this.layer_scale_lska = this.param('layer_scale_lska', [b], constant(1e-2));
    this.process1 = this.add('process1', bnReluConv3(b, 2));
    this.process2 = this.add('process2', bnReluConv3(b, 2));
    this.process_lska = this.add('process_lska', bnReluConv3(b));
    this.process4 = this.add('process4', bnReluConv3(b));
    this.process5 = this.add('process5', bnReluConv3(b));
    this.compression = this.add('compression', bnReluPw(b * 6, outplanes));
    this.shortcut = this.add('shortcut', bnReluPw(inplanes, outplanes));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const size: [number, number] = [x.shape[1]!, x.shape[2]!];
      const up = (t: Tensor) => resizeBilinear(t as Tensor4D, size);
      const x0 = this.scale0.forward(x);
      const lska = addScaled(x0, this.layer_scale_lska.value, this.lska.forward(this.bn.forward(x0)));
      const x1 = this.process1.forward(tf.add(up(this.scale1.forward(x)), x0));
      const x2 = this.process2.forward(tf.add(up(this.scale2.forward(x)), x1));
      const x3 = this.process_lska.forward(tf.add(lska, x2));
      const x4 = this.process4.forward(tf.add(up(this.scale4.forward(x)), x3));
      const x5 = this.process5.forward(tf.add(up(this.scale5.forward(x)), x4));
      return tf.add(this.compression.forward(tf.concat([x0, x1, x2, x3, x4, x5], -1)), this.shortcut.forward(x));
    });
  }
}

/**
 * Boundary-Guided Adaptive Fusion (`BGAF(in, out)`, in == out): P = conv_p(p), I = conv_i(i) (BN-ReLU-conv3x3
 * each), a = sigmoid(d); out = BN-ReLU-conv3x3(a P + (1 - a) I + P + I). d is the boundary feature map.
 */
export class BGAF extends Module {
  readonly conv_p: Sequential;
  readonly conv_i: Sequential;
  readonly out: Sequential;

  constructor(inChannels: number, outChannels: number) {
    super();
    if (inChannels !== outChannels) throw new Error(`BGAF needs in_channels == out_channels (got ${inChannels}, ${outChannels})`);
    const unit = () => new Sequential(new BatchNorm2d(inChannels), new ReLU(), new Conv2d(inChannels, outChannels, 3, { padding: 1, bias: false }));
    this.conv_p = this.add('conv_p', unit());
    this.conv_i = this.add('conv_i', unit());
    this.out = this.add('out', unit());
  }

  forward(p: Tensor, i: Tensor, d: Tensor): Tensor {
    return tf.tidy(() => {
      const P = this.conv_p.forward(p);
      const I = this.conv_i.forward(i);
      const a = tf.sigmoid(d);
      const fused = tf.addN([tf.mul(a, P), tf.mul(tf.sub(1, a), I), P, I]);
      return this.out.forward(fused);
    });
  }
}

export interface BEVANetConfig {
  planes: number;
  /** Blocks of layer1 (and a 0-kernel detail layer 3), layer2 (detail layer 4), semantic 3, semantic 4, semantic 5. */
  nBlocks: number[];
  /** Kernel sizes of the semantic stages 3, 4, 5; 0 = residual blocks instead of EVA blocks. */
  semanticKernels?: number[];
  /** Kernel sizes of the detail stages 3, 4. */
  detailKernels?: number[];
  mlpExpand?: number[];
  gating?: GatingKind;
  inChans?: number;
}

/**
 * `BEVANet_backbone`: stem (two s2 conv-BN-ReLU), residual layers 1-2, then the semantic branch (1/16,
 * 1/32) and the detail branch (1/8) with two PagFM fusions. Returns (xs, xds, xd, xds_inter).
 */
export abstract class BEVANetBase extends Backbone {
  readonly planes: number;
  readonly semanticKernels: number[];
  readonly detailKernels: number[];
  readonly mlpExpand: number[];
  readonly gating: GatingKind;
  readonly nBlocks: number[];
  readonly fuse_sd_3: PagFM;
  readonly fuse_sd_4: PagFM;
  /** Top-level children on the semantic path (what a features-only model keeps). */
  protected readonly semanticPath = new Set<string>();
  private readonly mods = new Map<string, LayerModule>();

  protected constructor(cfg: BEVANetConfig) {
    super();
    const p = cfg.planes;
    const nb = cfg.nBlocks;
    if (nb.length !== 5) throw new Error('BEVANet: n_blocks needs 5 entries');
    this.planes = p;
    this.nBlocks = nb;
    this.semanticKernels = cfg.semanticKernels ?? [0, 35, 35];
    this.detailKernels = cfg.detailKernels ?? [0, 23];
    this.mlpExpand = cfg.mlpExpand ?? [4, 4, 4];
    if (this.mlpExpand.length < 3) throw new Error('BEVANet: mlp_expand needs 3 entries');
    this.gating = cfg.gating ?? 'SDLSKA';
    const sk = this.semanticKernels;
    const dk = this.detailKernels;
    const me = this.mlpExpand;
    const sem = (name: string, m: LayerModule) => this.reg(name, m, true);
    const det = (name: string, m: LayerModule) => this.reg(name, m, false);

    sem('conv1', new Sequential(
      new Conv2d(cfg.inChans ?? 3, p, 3, { stride: 2, padding: 1 }), new BatchNorm2d(p), new ReLU(),
      new Conv2d(p, p, 3, { stride: 2, padding: 1 }), new BatchNorm2d(p), new ReLU(),
    ));
    sem('relu', new ReLU());
    sem('layer1', makeLayer('BasicBlock', p, p, nb[0]!));
    sem('layer2', makeLayer('BasicBlock', p, 2 * p, nb[1]!, 2));
    if (sk[0] === 0 && nb[2]! > 1) sem('layer3_semantic', makeLayer('BasicBlock', 2 * p, 4 * p, nb[2]!, 2));
    else {
      sem('layer3_down_semantic', makeLayer('BasicBlock', 2 * p, 4 * p, 1, 2));
      this.evaStage('layer3_semantic', 'norm3_semantic', 4 * p, sk[0]!, me[0]!, true);
    }
    if (sk[1] === 0 && nb[3]! > 1) sem('layer4_semantic', makeLayer('BasicBlock', 4 * p, 8 * p, nb[3]!, 2));
    else {
      sem('layer4_down_semantic', makeLayer('BasicBlock', 4 * p, 8 * p, 1, 2));
      this.evaStage('layer4_semantic_1', 'norm4_semantic_1', 8 * p, sk[1]!, me[1]!, true);
      this.evaStage('layer4_semantic_2', 'norm4_semantic_2', 8 * p, sk[1]!, me[1]!, true);
    }
    if (dk[0] === 0) det('layer3_detail', makeLayer('BasicBlock', 2 * p, 2 * p, nb[0]!));
    else {
      det('layer3_detail_conv', makeLayer('BasicBlock', 2 * p, 2 * p, 1));
      this.evaStage('layer3_detail', 'norm3_detail', 2 * p, dk[0]!, me[0]!, false);
    }
    det('compression3', new Sequential(new Conv2d(4 * p, 2 * p, 1, { bias: false }), new BatchNorm2d(2 * p)));
    this.fuse_sd_3 = this.add('fuse_sd_3', new PagFM(2 * p, p));
    if (dk[1] === 0) det('layer4_detail', makeLayer('BasicBlock', 2 * p, 2 * p, nb[1]!));
    else {
      det('layer4_detail_conv', makeLayer('BasicBlock', 2 * p, 2 * p, 1));
      this.evaStage('layer4_detail', 'norm4_detail', 2 * p, dk[1]!, me[1]!, false);
    }
    det('compression4', new Sequential(new Conv2d(8 * p, 2 * p, 1, { bias: false }), new BatchNorm2d(2 * p)));
    this.fuse_sd_4 = this.add('fuse_sd_4', new PagFM(2 * p, p));
    det('layer5_detail_semantic', makeLayer('Bottleneck', 2 * p, 2 * p, 1));
  }

  protected reg<M extends LayerModule>(name: string, m: M, semantic: boolean): M {
    this.mods.set(name, m);
    if (semantic) this.semanticPath.add(name);
    return this.add(name, m);
  }

  /** An EVA block and its LayerNorm (registered in that order). */
  protected evaStage(blockName: string, normName: string, dim: number, kernel: number, mlpExpand: number, semantic: boolean): void {
    this.reg(blockName, evanBlock(dim, kernel, mlpExpand, this.gating), semantic);
    this.reg(normName, new LayerNorm(dim), semantic);
  }

  /** The residual layers (PIDNet block stacks), EVA blocks, stem and compressions of both branches. */
  checkpointUnits(): Module[] {
    return [...this.mods.values()].filter((m) => !(m instanceof LayerNorm) && m.parameters().length > 0);
  }

  protected m(name: string): LayerModule {
    const mod = this.mods.get(name);
    if (!mod) throw new Error(`BEVANet: no module ${name}`);
    return mod;
  }

  protected run(x: Tensor, ...names: string[]): Tensor {
    let y = x;
    for (const n of names) y = this.m(n).forward(y);
    return y;
  }

  /** Stem and layers 1-2: (2p, 1/8). */
  protected stem(x: Tensor): { x4: Tensor; x8: Tensor } {
    const x4 = tf.relu(this.run(x, 'conv1', 'layer1'));
    return { x4, x8: tf.relu(this.run(x4, 'layer2')) };
  }

  /** Semantic stage 3 (4p, 1/16). */
  protected semantic3(x: Tensor): Tensor {
    return this.semanticKernels[0] === 0 ? tf.relu(this.run(x, 'layer3_semantic')) : this.run(x, 'layer3_down_semantic', 'layer3_semantic', 'norm3_semantic');
  }

  /** Semantic stage 4 (8p, 1/32). */
  protected semantic4(xs: Tensor): Tensor {
    return this.semanticKernels[1] === 0
      ? tf.relu(this.run(xs, 'layer4_semantic'))
      : this.run(xs, 'layer4_down_semantic', 'layer4_semantic_1', 'norm4_semantic_1', 'layer4_semantic_2', 'norm4_semantic_2');
  }

  /** The official backbone forward: semantic xs (8p, 1/32), detail xds (4p, 1/8), xd (2p, 1/8), xds_inter (2p, 1/8). */
  protected backbone(x: Tensor): { xs: Tensor; xds: Tensor; xd: Tensor; xdsInter: Tensor } {
    const dk = this.detailKernels;
    const { x8 } = this.stem(x);
    let xs = this.semantic3(x8);
    let xd = dk[0] !== 0 ? this.run(x8, 'layer3_detail_conv', 'layer3_detail', 'norm3_detail') : this.run(x8, 'layer3_detail');
    xd = this.fuse_sd_3.forward(xd, this.run(xs, 'compression3'));
    // The official `xds_inter = xd` aliases the tensor that `self.relu` (inplace=True) then rectifies, so
    // the auxiliary head sees the rectified map too.
    if (dk[0] === 0) xd = tf.relu(xd);
    const xdsInter = xd;
    xs = this.semantic4(xs);
    xd = dk[1] !== 0 ? this.run(xd, 'layer4_detail_conv', 'layer4_detail', 'norm4_detail') : this.run(xd, 'layer4_detail');
    xd = this.fuse_sd_4.forward(xd, this.run(xs, 'compression4'));
    if (dk[1] === 0) xd = tf.relu(xd);
    return { xs, xds: this.run(xd, 'layer5_detail_semantic'), xd, xdsInter };
  }

  /** Semantic stage 5: (16p, 1/64) in the segmenter, (16p, 1/32) in the classifier. */
  protected abstract semantic5(xs: Tensor): Tensor;

  /** The semantic path's maps (in stage order, as the other families): layer1 (p, 1/4), layer2 (2p, 1/8), stage 3 (4p, 1/16), stage 4 (8p, 1/32), stage 5 (16p). */
  forwardIntermediates(x: Tensor, indices: number[] = [0, 1, 2, 3, 4]): Tensor[] {
    return tf.tidy(() => {
      const last = Math.max(...indices);
      const { x4, x8 } = this.stem(x);
      const maps: Tensor[] = [x4, x8];
      if (last >= 2) maps.push(this.semantic3(x8));
      if (last >= 3) maps.push(this.semantic4(maps[2]!));
      if (last >= 4) maps.push(this.semantic5(maps[3]!));
      return maps.filter((_, i) => indices.includes(i));
    });
  }

  protected semanticFeatureInfo(stage5Reduction: number, stage5Module: string): FeatureInfo[] {
    const p = this.planes;
    const sk = this.semanticKernels;
    return [
      { channels: p, reduction: 4, module: 'layer1' },
      { channels: 2 * p, reduction: 8, module: 'layer2' },
      { channels: 4 * p, reduction: 16, module: sk[0] === 0 ? 'layer3_semantic' : 'norm3_semantic' },
      { channels: 8 * p, reduction: 32, module: sk[1] === 0 ? 'layer4_semantic' : 'norm4_semantic_2' },
      { channels: 16 * p, reduction: stage5Reduction, module: stage5Module },
    ];
  }

  /** Every top-level child off the semantic path: a features-only model drops them. */
  protected offSemanticPath(): string[] {
    return this.namedChildren()
      .map(([n]) => n)
      .filter((n) => !this.semanticPath.has(n));
  }
}

export interface BEVANetSegConfig extends BEVANetConfig {
  numClasses?: number;
  ppmPlanes?: number;
  headPlanes?: number;
  /** true: the training form with the auxiliary detail head (`seghead_ds`) and boundary head (`seghead_db`). */
  segAugment?: boolean;
}

/** What the segmenter computes: the 1/8 logit map, and in the augmented form the auxiliary and boundary maps. */
export interface BEVANetSegOutputs {
  /** (B, H/8, W/8, numClasses). */
  main: Tensor;
  /** Auxiliary logits from the first fusion, (B, H/8, W/8, numClasses); augmented form only. */
  aux?: Tensor;
  /** Boundary logits, (B, H/8, W/8, 1); augmented form only. */
  boundary?: Tensor;
}

/**
 * `BEVANet_SEG`: backbone + semantic stage 5 (1/64) -> DLKPPM -> upsample to 1/8; BGAF fuses it with the
 * detail map xds under the boundary features xdb; the head predicts at output stride 8 (NHWC logits).
 */
export class BEVANetSeg extends BEVANetBase {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  override readonly headModules: readonly string[];
  readonly segAugment: boolean;
  readonly spp: DLKPPM;
  readonly dfm: BGAF;
  readonly head: SegmentHead;
  readonly seghead_ds: SegmentHead | null = null;
  readonly seghead_db: SegmentHead | null = null;

  constructor(cfg: BEVANetSegConfig) {
    super(cfg);
    const p = cfg.planes;
    const sk = this.semanticKernels;
    const nb = cfg.nBlocks;
    const me = this.mlpExpand;
    this.numClasses = cfg.numClasses ?? 19;
    this.segAugment = cfg.segAugment ?? true;
    if (sk[2] === 0 && nb[4]! > 1) this.reg('layer5_semantic_seg', makeLayer('Bottleneck', 8 * p, 8 * p, nb[4]!, 2), true);
    else {
      this.reg('layer5_down_semantic_seg', makeLayer('BasicBlock', 8 * p, 16 * p, 1, 2), true);
      this.evaStage('layer5_semantic_1_seg', 'norm5_semantic_1_seg', 16 * p, sk[2]!, me[2]!, true);
      this.evaStage('layer5_semantic_2_seg', 'norm5_semantic_2_seg', 16 * p, sk[2]!, me[2]!, true);
    }
    this.reg('layer5_detail_boundary', makeLayer('Bottleneck', 2 * p, 2 * p, 1), false);
    this.spp = this.add('spp', new DLKPPM(16 * p, cfg.ppmPlanes ?? 96, 4 * p));
    this.dfm = this.add('dfm', new BGAF(4 * p, 4 * p));
    const hp = cfg.headPlanes ?? 128;
    if (this.segAugment) {
      this.seghead_ds = this.add('seghead_ds', new SegmentHead(2 * p, hp, this.numClasses));
      this.seghead_db = this.add('seghead_db', new SegmentHead(2 * p, p, 1));
    }
    this.head = this.add('head', new SegmentHead(4 * p, hp, this.numClasses));
    this.featureInfo = this.semanticFeatureInfo(64, sk[2] === 0 && nb[4]! > 1 ? 'layer5_semantic_seg' : 'norm5_semantic_2_seg');
    this.headModules = this.offSemanticPath();
  }

  protected semantic5(xs: Tensor): Tensor {
    return this.semanticKernels[2] === 0 && this.nBlocks[4]! > 1
      ? this.run(xs, 'layer5_semantic_seg')
      : this.run(xs, 'layer5_down_semantic_seg', 'layer5_semantic_1_seg', 'norm5_semantic_1_seg', 'layer5_semantic_2_seg', 'norm5_semantic_2_seg');
  }

  /** Every output of the network (the official forward: [aux, main, boundary] when augmented). */
  forwardOutputs(x: Tensor): BEVANetSegOutputs {
    return tf.tidy(() => {
      const { xs, xds, xd, xdsInter } = this.backbone(x);
      const s5 = this.semantic5(xs);
      const xdb = this.run(xd, 'layer5_detail_boundary');
      const ctx = resizeBilinear(this.spp.forward(s5) as Tensor4D, [xds.shape[1]!, xds.shape[2]!]);
      const main = this.head.forward(this.dfm.forward(xds, ctx, xdb));
      if (!this.seghead_ds || !this.seghead_db) return { main };
      return { main, aux: this.seghead_ds.forward(xdsInter), boundary: this.seghead_db.forward(xd) };
    });
  }

  /** Training uses every head (FullModel): the auxiliary and boundary maps feed the loss (pretrained config `trainLoss: 'bevanet'`). */
  forwardTrain(x: Tensor): Record<string, Tensor> {
    return { ...this.forwardOutputs(x) };
  }

  /** NHWC image batch -> NHWC logit map at 1/8 resolution (B, ceil(H/8), ceil(W/8), numClasses). */
  forward(x: Tensor): Tensor {
    const out = this.forwardOutputs(x);
    tf.dispose([out.aux, out.boundary].filter((t): t is Tensor => !!t));
    return out.main;
  }
}

export interface BEVANetClsConfig extends BEVANetConfig {
  numClasses?: number;
  lastPlanes?: number;
}

/**
 * `BEVANet_CLS_32`: backbone + semantic stage 5 at 1/32 (bottleneck, EVA x2, bottleneck) plus the detail
 * map brought to 1/32 (`layer5_down`), then 1x1 conv to last_planes, BN, ReLU, global average pool, Linear.
 */
export class BEVANetCls extends BEVANetBase {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  override readonly headModules: readonly string[];
  readonly lastPlanes: number;
  readonly layer5_down: Sequential;
  readonly last_layer: Sequential;
  readonly head: Linear | Identity;

  constructor(cfg: BEVANetClsConfig) {
    super(cfg);
    const p = cfg.planes;
    const sk = this.semanticKernels;
    const nb = cfg.nBlocks;
    const me = this.mlpExpand;
    this.numClasses = cfg.numClasses ?? 1000;
    this.lastPlanes = cfg.lastPlanes ?? 2048;
    if (sk[2] === 0 && nb[4]! > 1) this.reg('layer5_semantic_cls', makeLayer('Bottleneck', 8 * p, 8 * p, nb[4]!), true);
    else {
      this.reg('layer5_down_semantic_cls', makeLayer('Bottleneck', 8 * p, 8 * p, 1), true);
      this.evaStage('layer5_semantic_1_cls', 'norm5_semantic_1_cls', 16 * p, sk[2]!, me[2]!, true);
      this.evaStage('layer5_semantic_2_cls', 'norm5_semantic_2_cls', 16 * p, sk[2]!, me[2]!, true);
      this.reg('layer5_semantic_bn_cls', makeLayer('Bottleneck', 16 * p, 8 * p, 1, 1), true);
    }
    this.layer5_down = this.add(
      'layer5_down',
      new Sequential(
        new Conv2d(4 * p, 8 * p, 3, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(8 * p), new ReLU(),
        new Conv2d(8 * p, 16 * p, 3, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(16 * p),
      ),
    );
    this.last_layer = this.add(
      'last_layer',
      new Sequential(new Conv2d(16 * p, this.lastPlanes, 1, { bias: false }), new BatchNorm2d(this.lastPlanes), new ReLU(), new Lambda((t) => tf.mean(t, [1, 2]))),
    );
    this.head = this.add('head', this.numClasses > 0 ? new Linear(this.lastPlanes, this.numClasses) : new Identity());
    this.featureInfo = this.semanticFeatureInfo(32, sk[2] === 0 && nb[4]! > 1 ? 'layer5_semantic_cls' : 'layer5_semantic_bn_cls');
    this.headModules = this.offSemanticPath();
  }

  protected semantic5(xs: Tensor): Tensor {
    return this.semanticKernels[2] === 0 && this.nBlocks[4]! > 1
      ? this.run(xs, 'layer5_semantic_cls')
      : this.run(xs, 'layer5_down_semantic_cls', 'layer5_semantic_1_cls', 'norm5_semantic_1_cls', 'layer5_semantic_2_cls', 'norm5_semantic_2_cls', 'layer5_semantic_bn_cls');
  }

  /** Pooled features (B, last_planes). */
  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => {
      const { xs, xds } = this.backbone(x);
      return this.last_layer.forward(addRelu(this.semantic5(xs), this.layer5_down.forward(xds)));
    });
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.head.forward(this.forwardFeatures(x)));
  }
}

/** The configs/*.yaml variants (all SDLSKA, DLKPPM, BGAF, kernels [0,35,35] / [0,23], MLP_EXPAND [4,4,4]). */
export const BEVANET_VARIANTS: Record<string, { planes: number; nBlocks: number[]; ppmPlanes: number; headPlanes: number }> = {
  bevanet_s: { planes: 32, nBlocks: [2, 2, 3, 3, 2], ppmPlanes: 96, headPlanes: 128 },
  bevanet: { planes: 64, nBlocks: [2, 2, 4, 4, 2], ppmPlanes: 96, headPlanes: 128 },
  bevanet_sw: { planes: 64, nBlocks: [2, 2, 3, 3, 2], ppmPlanes: 96, headPlanes: 128 },
  bevanet_l: { planes: 64, nBlocks: [3, 3, 4, 4, 2], ppmPlanes: 112, headPlanes: 256 },
};

const SRC = 'maomao0819/BEVANet@603205b';

/**
 * Cityscapes evaluation as tools/eval.py and tools/custom.py: the whole image at its own resolution
 * (1024x2048 in Cityscapes), RGB / 255 normalized with ImageNet mean/std, logits upsampled to the image
 * with bilinear align_corners=True, argmax. Weights are on Google Drive only (README links).
 */
const segCfg = (notes: string): PretrainedConfig => ({
  inputSize: [3, 1024, 2048],
  cropPct: 1,
  interpolation: 'bilinear',
  mean: IMAGENET_DEFAULT_MEAN,
  std: IMAGENET_DEFAULT_STD,
  numClasses: 19,
  labels: 'cityscapes',
  task: 'segmentation',
  trainLoss: 'bevanet',
  alignCorners: true,
  inputMultiple: 8,
  firstConv: 'conv1.0',
  classifier: 'head.conv2',
  notes: `${SRC} models/BEVANet.py get_seg_model; eval as tools/eval.py (native resolution, align_corners=True upsampling). ${notes}`,
});

/** ImageNet pretraining (tools/pretrain.py / datasets/imagenet.py): standard 224 eval, ImageNet mean/std. */
const clsCfg = (notes: string): PretrainedConfig =>
  imagenetConfig({
    cropPct: 0.875,
    interpolation: 'bilinear',
    firstConv: 'conv1.0',
    notes: `${SRC} models/BEVANet.py get_cls_model (BEVANet_CLS_32); eval crop 0.875 bilinear assumed (not verified against datasets/imagenet.py). ${notes}`,
  });

const NOTES: Record<string, { seg: string; cls: string }> = {
  bevanet_s: { seg: 'Cityscapes val 78.2 mIoU (README; weights: Google Drive 1tk8vNr4t9qK481uid65NCj0fPvjLIBRk).', cls: 'ImageNet 71.1 top-1 (README; Google Drive 1adaWjRHfoS97lxyEZHkM0vOn_1KFbI7j).' },
  bevanet: { seg: 'Cityscapes val 81.0 mIoU (README; weights: Google Drive 1IxKY85Yx418Q8FmiI2tGj0-TrGahuUxe).', cls: 'ImageNet 76.3 top-1 (README; Google Drive 1klSGNlUs6h7FHJ_lvOvKQEyzeWx_wrd0).' },
  bevanet_sw: { seg: 'configs/cityscapes/BEVANet_SW.yaml; no released weights.', cls: 'No released weights.' },
  bevanet_l: { seg: 'configs/cityscapes/BEVANet_L.yaml; no released weights.', cls: 'No released weights.' },
};

for (const [base, v] of Object.entries(BEVANET_VARIANTS)) {
  const common = { planes: v.planes, nBlocks: v.nBlocks };
  const notes = NOTES[base]!;
  for (const deploy of [false, true]) {
    registerModel({
      name: `${base}_seg${deploy ? '_deploy' : ''}`,
      architecture: 'BEVANet',
      description: deploy ? 'segmenter, inference form (no auxiliary heads)' : 'segmenter, training form with auxiliary and boundary heads (seg_augment=True)',
      pretrainedCfg: segCfg(notes.seg),
      build: (o: ModelOptions) =>
        new BEVANetSeg({ ...common, ppmPlanes: v.ppmPlanes, headPlanes: v.headPlanes, segAugment: !deploy, numClasses: o.numClasses, inChans: o.inChans }),
    });
  }
  registerModel({
    name: `${base}_cls`,
    architecture: 'BEVANet',
    description: 'ImageNet pretraining classifier (BEVANet_CLS_32)',
    pretrainedCfg: clsCfg(notes.cls),
    build: (o: ModelOptions) => new BEVANetCls({ ...common, numClasses: o.numClasses, inChans: o.inChans }),
  });
}
