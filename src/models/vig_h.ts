/**
 * ViG-H, the hierarchical ViG (Liao et al., arXiv 2405.18425), official code hustvl/ViG@dfb9d32
 * `classification/models/vig_h.py::HierViG` with configs/vig-h/*.yaml (LayerNorm2d everywhere,
 * conv stem "v2", strided-conv downsampling "v3", SwiGLU gMlp): four stages of VSSBlocks
 * (x + GLA2D(LN(x)), x + gMlp(LN(x))) on NHWC maps, then LayerNorm, average pool and a linear head.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, ModuleList, Sequential, type Layer, type LayerModule } from '../nn/module.js';
import { BatchNorm2d, Conv2d, DropPath, dropPathSchedule, GELU, Identity, LayerNorm, Linear, ReLU, Sigmoid, SiLU } from '../nn/layers.js';
import { truncNormal, zeros } from '../nn/init.js';
import { GatedLinearAttention, type GatedLinearAttentionOptions, SwiGLUMlp, swigluHidden } from '../blocks/gated_linear_attention.js';
import { Backbone, type FeatureInfo } from './backbone.js';
import { type ModelOptions, type PretrainedConfig, registerModel, stageDepths } from './registry.js';
import { vigPretrainedCfg } from './vig.js';

/** `norm_layer`: ln / ln2d are the same LayerNorm over channels on NHWC maps (eps 1e-5); bn is BatchNorm2d. */
export type VigHNorm = 'ln' | 'ln2d' | 'bn';
export type VigHAct = 'gelu' | 'silu' | 'relu' | 'sigmoid';

export function vigHNorm(kind: VigHNorm, dim: number): LayerModule {
  return kind === 'bn' ? new BatchNorm2d(dim) : new LayerNorm(dim, 1e-5);
}

function actLayer(kind: VigHAct): LayerModule {
  return kind === 'gelu' ? new GELU() : kind === 'silu' ? new SiLU() : kind === 'relu' ? new ReLU() : new Sigmoid();
}

/** ViG-H `gMlp`: SwiGLU (keys fc1 / fc2) with I = 32 * ceil(int(8 dim / 3) / 32); hidden_features is ignored. */
export function gMlp(dim: number, outDim = dim): SwiGLUMlp {
  return new SwiGLUMlp(dim, swigluHidden(dim, 32), outDim, ['fc1', 'fc2']);
}

/** ViG-H `Mlp` (gmlp False): fc1 -> act -> fc2, both with bias. */
export class VigHMlp extends Module implements Layer {
  readonly fc1: Linear;
  readonly act: LayerModule;
  readonly fc2: Linear;

  constructor(dim: number, hidden: number, act: VigHAct = 'gelu') {
    super();
    this.fc1 = this.add('fc1', new Linear(dim, hidden));
    this.act = this.add('act', actLayer(act));
    this.fc2 = this.add('fc2', new Linear(hidden, dim));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.fc2.forward(this.act.forward(this.fc1.forward(x))));
  }
}

export interface VSSBlockConfig extends Omit<GatedLinearAttentionOptions, 'evalOutputScale'> {
  dim: number;
  numHeads: number;
  norm?: VigHNorm;
  gmlp?: boolean;
  mlpRatio?: number;
  mlpAct?: VigHAct;
  postNorm?: boolean;
}

/** ViG-H `VSSBlock`: x = x + drop_path(op(norm(x))); x = x + drop_path(mlp(norm2(x))) (post_norm moves the norms after). */
export class VSSBlock extends Module implements Layer {
  readonly norm: LayerModule;
  readonly op: GatedLinearAttention;
  readonly drop_path: DropPath;
  readonly norm2: LayerModule;
  readonly mlp: LayerModule;
  readonly postNorm: boolean;

  constructor(cfg: VSSBlockConfig, dropPath = 0) {
    super();
    const { dim, numHeads, norm = 'ln2d', gmlp = true, mlpRatio = 4, mlpAct = 'gelu', postNorm = false, ...attnOpts } = cfg;
    this.postNorm = postNorm;
    this.norm = this.add('norm', vigHNorm(norm, dim));
    // GLA2D: the kernel's (fwd + bwd) / 2 without plain ViG's extra halving.
    this.op = this.add('op', new GatedLinearAttention(dim, numHeads, { ...attnOpts, evalOutputScale: 1 }));
    this.drop_path = this.add('drop_path', new DropPath(dropPath));
    this.norm2 = this.add('norm2', vigHNorm(norm, dim));
    this.mlp = this.add('mlp', gmlp ? gMlp(dim) : new VigHMlp(dim, Math.trunc(dim * mlpRatio), mlpAct));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      const branch = (f: LayerModule, n: LayerModule, t: Tensor) => (this.postNorm ? n.forward(f.forward(t)) : f.forward(n.forward(t)));
      const y = tf.add(x, this.drop_path.forward(branch(this.op, this.norm, x)));
      return tf.add(y, this.drop_path.forward(branch(this.mlp, this.norm2, y)));
    });
  }
}

/** One `layers.i`: `blocks` (Sequential of VSSBlocks) then `downsample` (conv + norm, or Identity after the last stage). */
export class VigHStage extends Module implements Layer {
  readonly blocks: Sequential;
  readonly downsample: LayerModule;

  constructor(blocks: VSSBlock[], downsample: LayerModule) {
    super();
    this.blocks = this.add('blocks', new Sequential(...blocks));
    this.downsample = this.add('downsample', downsample);
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.downsample.forward(this.blocks.forward(x)));
  }
}

/** `classifier`: norm -> (permute) -> avgpool -> flatten -> head; only norm and head have weights. */
export class VigHClassifier extends Module implements Layer {
  readonly norm: LayerModule;
  readonly head: Linear | Identity;

  constructor(dim: number, numClasses: number, norm: VigHNorm) {
    super();
    this.norm = this.add('norm', vigHNorm(norm, dim));
    this.add('permute', new Identity());
    this.add('avgpool', new Identity());
    this.add('flatten', new Identity());
    this.head = this.add('head', numClasses > 0 ? new Linear(dim, numClasses) : new Identity());
  }

  /** NHWC map -> logits. */
  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.head.forward(tf.mean(this.norm.forward(x), [1, 2])));
  }
}

export interface HierVigConfig {
  depths: number[];
  /** Per-stage widths, or an int C0 meaning C0 * 2^i. */
  dims: number | number[];
  numHeads: number[];
  patchSize?: number;
  inChans?: number;
  numClasses?: number;
  expandK?: number;
  expandV?: number;
  useOutAct?: boolean;
  useActInConv?: boolean;
  mlpRatio?: number;
  mlpAct?: VigHAct;
  gmlp?: boolean;
  dropPathRate?: number;
  patchNorm?: boolean;
  norm?: VigHNorm;
  downsampleVersion?: 'v2' | 'v3';
  patchEmbedVersion?: 'v1' | 'v2';
  impl?: GatedLinearAttentionOptions['impl'];
}

export class HierViG extends Backbone {
  readonly patch_embed: Sequential;
  readonly layers: ModuleList<VigHStage>;
  readonly classifier: VigHClassifier;
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  override readonly headModules = ['classifier'];
  readonly dims: number[];

  constructor(cfg: HierVigConfig) {
    super();
    const n = cfg.depths.length;
    const dims = typeof cfg.dims === 'number' ? Array.from({ length: n }, (_, i) => Math.trunc((cfg.dims as number) * 2 ** i)) : cfg.dims;
    if (dims.length !== n || cfg.numHeads.length !== n) throw new Error('HierViG: depths, dims and numHeads need one entry per stage');
    this.dims = dims;
    this.numClasses = cfg.numClasses ?? 1000;
    const norm = cfg.norm ?? 'ln2d';
    const patch = cfg.patchSize ?? 4;
    const inChans = cfg.inChans ?? 3;
    const patchNorm = cfg.patchNorm ?? true;
    const pnorm = (d: number) => (patchNorm ? vigHNorm(norm, d) : new Identity());
    if ((cfg.patchEmbedVersion ?? 'v2') === 'v2') {
      // Two Conv(k p/2+1, stride p/2, pad 1), LN, GELU between; Identity slots are the official Permutes.
      const s = Math.floor(patch / 2);
      const half = Math.floor(dims[0]! / 2);
      this.patch_embed = this.add(
        'patch_embed',
        new Sequential(
          new Conv2d(inChans, half, s + 1, { stride: s, padding: 1 }),
          new Identity(),
          pnorm(half),
          new Identity(),
          new GELU(),
          new Conv2d(half, dims[0]!, s + 1, { stride: s, padding: 1 }),
          new Identity(),
          pnorm(dims[0]!),
        ),
      );
    } else {
      this.patch_embed = this.add('patch_embed', new Sequential(new Conv2d(inChans, dims[0]!, patch, { stride: patch }), new Identity(), pnorm(dims[0]!)));
    }
    const total = cfg.depths.reduce((a, b) => a + b, 0);
    const rate = cfg.dropPathRate ?? 0;
    const dpr = dropPathSchedule(total, rate);
    const stages: VigHStage[] = [];
    let cur = 0;
    for (let i = 0; i < n; i++) {
      const blockCfg: VSSBlockConfig = {
        dim: dims[i]!,
        numHeads: cfg.numHeads[i]!,
        norm,
        gmlp: cfg.gmlp ?? true,
        mlpRatio: cfg.mlpRatio ?? 4,
        mlpAct: cfg.mlpAct ?? 'gelu',
        expandK: cfg.expandK ?? 0.5,
        expandV: cfg.expandV ?? 1,
        useOutAct: cfg.useOutAct ?? false,
        useActInConv: cfg.useActInConv ?? false,
        normEps: 1e-6,
        impl: cfg.impl,
      };
      const blocks = Array.from({ length: cfg.depths[i]! }, (_, j) => new VSSBlock(blockCfg, dpr[cur + j]));
      cur += cfg.depths[i]!;
      const kernel = (cfg.downsampleVersion ?? 'v3') === 'v3' ? { k: 3, pad: 1 } : { k: 2, pad: 0 };
      const down =
        i < n - 1 ? new Sequential(new Identity(), new Conv2d(dims[i]!, dims[i + 1]!, kernel.k, { stride: 2, padding: kernel.pad }), new Identity(), vigHNorm(norm, dims[i + 1]!)) : new Identity();
      stages.push(new VigHStage(blocks, down));
    }
    this.layers = this.add('layers', new ModuleList(stages));
    this.classifier = this.add('classifier', new VigHClassifier(dims[n - 1]!, this.numClasses, norm));
    this.featureInfo = dims.map((c, i) => ({ channels: c, reduction: patch * 2 ** i, module: `layers.${i}.blocks` }));
    hierVigInit(this);
  }

  checkpointUnits(): Module[] {
    return this.layers.items.flatMap((s) => s.blocks.layers);
  }

  /** NHWC input -> each requested stage's NHWC map (after its blocks, before its downsample). */
  forwardIntermediates(x: Tensor, indices: number[] = this.dims.map((_, i) => i)): Tensor[] {
    return tf.tidy(() =>
      // Stage i's input is the previous stage's map through that stage's downsample.
      this.runStages(this.patch_embed.forward(x), indices, (i, y) => this.layers.items[i]!.blocks.forward(i > 0 ? this.layers.items[i - 1]!.downsample.forward(y) : y)),
    );
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      let y = this.patch_embed.forward(x);
      for (const stage of this.layers) y = stage.forward(y);
      return this.classifier.forward(y);
    });
  }
}

/**
 * HierViG._init_weights, applied after the GLA layers' own reset: trunc_normal(.02) on every Linear
 * (Linear2d included, overriding GLA2D's xavier), zero biases, LayerNorm (1, 0); the depthwise conv keeps
 * xavier(gain 2^-2.5), other convs PyTorch defaults.
 */
export function hierVigInit(model: Module): void {
  model.apply((m) => {
    if (m instanceof Linear) {
      m.weight.init = truncNormal(0.02);
      if (m.bias) m.bias.init = zeros;
    }
  });
}

const VARIANTS: [string, number, number[], number[], number, string][] = [
  ['vig_h_t', 96, [2, 2, 5, 2], [3, 6, 12, 24], 0.2, 'ViG-H-T: 29M params, 82.8 top-1 (README).'],
  ['vig_h_s', 96, [2, 2, 17, 2], [3, 6, 12, 24], 0.3, 'ViG-H-S: 50M params, 83.8 top-1 (README).'],
  ['vig_h_b', 128, [2, 2, 17, 2], [4, 8, 16, 32], 0.6, 'ViG-H-B: 89M params, 84.2 top-1 (README).'],
];

const hierCfg = (notes: string): PretrainedConfig => ({
  ...vigPretrainedCfg(`classification/models/vig_h.py with configs/vig-h/*.yaml. ${notes}`),
  firstConv: 'patch_embed.0',
  classifier: 'classifier.head',
});

for (const [name, dim, depths, numHeads, dropPath, notes] of VARIANTS) {
  registerModel({
    name,
    architecture: 'ViG-H',
    pretrainedCfg: hierCfg(notes),
    depths,
    build: (o: ModelOptions) =>
      new HierViG({ dims: dim, depths: stageDepths(o, depths), numHeads, numClasses: o.numClasses, inChans: o.inChans, dropPathRate: o.dropPathRate ?? dropPath }),
  });
}
