/**
 * UniRepLKNet (Ding, Zhang, Ge, et al., "UniRepLKNet: A Universal Perception Large-Kernel ConvNet",
 * arXiv 2311.15599), official code AILab-CVC/UniRepLKNet `unireplknet.py`. A ConvNeXt-like 4-stage
 * convnet whose large depthwise kernels are Dilated Reparam Blocks; blocks add SE and a GRN MLP.
 * Train form (BN branches, GRN beta, layer scale) and deploy form (all folded) share the forward math;
 * `reparameterize(model)` turns the first into the second in place.
 */
import { tf, type Tensor } from '../tf.js';
import { Module, ModuleList, Sequential, type Layer, type LayerModule, type Parameter } from '../nn/module.js';
import { BatchNorm2d, Conv2d, DropPath, dropPathSchedule, GELU, Identity, LayerNorm, Linear } from '../nn/layers.js';
import { constant, truncNormal, zeros } from '../nn/init.js';
import { type Reparameterizable, batchNormScaleShift, foldBatchNorm } from '../nn/reparam.js';
import { DilatedReparamBlock } from '../blocks/dilated_reparam.js';
import { GRN } from '../blocks/grn.js';
import { SEBlock } from '../blocks/squeeze_excite.js';
import { Backbone, type FeatureInfo } from './backbone.js';
import { type ModelOptions, type PretrainedConfig, imagenetConfig, perBlock, registerModel, stageDepths } from './registry.js';

export interface UniRepLKNetBlockOptions {
  dropPath?: number;
  /** Layer scale init; null or 0 builds no `gamma`. */
  layerScaleInit?: number | null;
  deploy?: boolean;
  ffnFactor?: number;
}

/**
 * The official `UniRepLKNetBlock` on NHWC maps: x + gamma * BN(Linear(GRN(GELU(Linear(SE(BN(dwconv(x)))))))).
 * dwconv: DilatedReparamBlock for K >= 7, a plain KxK depthwise conv for K in {3, 5}, identity for K = 0.
 * The official NCHW<->NHWC permutes are parameterless `Identity` members here, keeping key indices.
 */
export class UniRepLKNetBlock extends Module implements Layer, Reparameterizable {
  gamma: Parameter | null;
  dwconv: LayerModule;
  norm: LayerModule;
  readonly se: SEBlock;
  readonly pwconv1: Sequential;
  readonly act: Sequential;
  pwconv2: Sequential;
  readonly drop_path: DropPath;
  readonly grn: GRN;

  constructor(
    readonly dim: number,
    readonly kernelSize: number,
    opts: UniRepLKNetBlockOptions = {},
  ) {
    super();
    const deploy = opts.deploy ?? false;
    if (kernelSize === 0) this.dwconv = this.add('dwconv', new Identity());
    else if (kernelSize >= 7) this.dwconv = this.add('dwconv', new DilatedReparamBlock(dim, kernelSize, deploy));
    else if (kernelSize === 3 || kernelSize === 5) this.dwconv = this.add('dwconv', new Conv2d(dim, dim, kernelSize, { padding: kernelSize >> 1, groups: dim, bias: deploy }));
    else throw new Error(`UniRepLKNetBlock: kernel_size must be 0, 3, 5 or >= 7, got ${kernelSize}`);
    this.norm = this.add('norm', deploy || kernelSize === 0 ? new Identity() : new BatchNorm2d(dim));
    this.se = this.add('se', new SEBlock(dim, Math.trunc(dim / 4)));
    const ffn = Math.trunc((opts.ffnFactor ?? 4) * dim);
    this.pwconv1 = this.add('pwconv1', new Sequential(new Identity(), new Linear(dim, ffn)));
    this.grn = new GRN(ffn, !deploy);
    this.act = this.add('act', new Sequential(new GELU(), this.grn));
    this.pwconv2 = this.add(
      'pwconv2',
      deploy ? new Sequential(new Linear(ffn, dim), new Identity()) : new Sequential(new Linear(ffn, dim, { bias: false }), new Identity(), new BatchNorm2d(dim)),
    );
    const ls = opts.layerScaleInit === undefined ? 1e-6 : opts.layerScaleInit;
    this.gamma = !deploy && ls !== null && ls > 0 ? this.param('gamma', [dim], constant(ls)) : null;
    this.drop_path = this.add('drop_path', new DropPath(opts.dropPath ?? 0));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => {
      let y = this.se.forward(this.norm.forward(this.dwconv.forward(x)));
      y = this.pwconv2.forward(this.act.forward(this.pwconv1.forward(y)));
      return this.drop_path.residual(x, y, this.gamma?.value);
    });
  }

  /**
   * The official `reparameterize`: fuse the dilated branches, fold `norm` into the depthwise conv, push
   * GRN's beta through pwconv2's Linear and fold pwconv2's BN and the layer scale into that Linear.
   */
  reparameterize(): void {
    if (this.dwconv instanceof DilatedReparamBlock) this.dwconv.reparameterize();
    if (this.norm instanceof BatchNorm2d) {
      const bn = this.norm;
      if (this.dwconv instanceof DilatedReparamBlock) {
        const conv = this.dwconv.lk_origin;
        tf.tidy(() => {
          const f = foldBatchNorm(conv, bn);
          conv.weight.assignTf(f.weight);
          conv.bias!.assignTf(f.bias);
        });
      } else if (this.dwconv instanceof Conv2d) {
        const old = this.dwconv;
        const conv = new Conv2d(old.inChannels, old.outChannels, old.kernelSize, { padding: old.padding, groups: old.groups, bias: true });
        tf.tidy(() => {
          const f = foldBatchNorm(old, bn);
          conv.weight.assignTf(f.weight);
          conv.bias!.assignTf(f.bias);
        });
        this.dwconv = this.replaceChild('dwconv', conv);
        old.dispose();
      }
      this.norm = this.replaceChild('norm', new Identity());
      bn.dispose();
    }
    const gamma = this.gamma;
    if (gamma) {
      this.removeMember('gamma');
      this.gamma = null;
    }
    const [linear, , bn2] = this.pwconv2.layers as [Linear, Identity, BatchNorm2d | undefined];
    if (this.grn.beta && bn2) {
      const fused = new Linear(linear.inFeatures, linear.outFeatures);
      tf.tidy(() => {
        const { scale, shift } = batchNormScaleShift(bn2);
        const s = gamma ? tf.mul(scale, gamma.value) : scale;
        // Linear in tfjs layout is (in, out): GRN's beta (1,1,1,in) projects to beta @ W.
        const projected = tf.reshape(tf.matMul(tf.reshape(this.grn.beta!.value, [1, -1]), linear.weight.value), [-1]);
        const linearBias = linear.bias ? tf.add(linear.bias.value, projected) : projected;
        fused.weight.assignTf(tf.mul(linear.weight.value, s));
        // (beta2 + (b - mean2) * s2) * gamma = (shift2 + b * scale2) * gamma
        const shiftScaled = gamma ? tf.mul(shift, gamma.value) : shift;
        fused.bias!.assignTf(tf.add(shiftScaled, tf.mul(linearBias, s)));
      });
      this.grn.dropBias()?.dispose();
      const old = this.pwconv2;
      this.pwconv2 = this.replaceChild('pwconv2', new Sequential(fused, new Identity()));
      old.dispose();
    }
    gamma?.dispose();
  }
}

export interface UniRepLKNetConfig {
  depths: number[];
  dims: number[];
  /** Kernel size of every block per stage; default: the official table for the depths. */
  kernelSizes?: number[][];
  inChans?: number;
  numClasses?: number;
  dropPathRate?: number;
  layerScaleInit?: number | null;
  headInitScale?: number;
  deploy?: boolean;
}

/** The official default kernel sizes, keyed by depths. */
const A_F_P = [[3, 3], [13, 13], Array(6).fill(13), [13, 13]];
const DEFAULT_KERNELS: Record<string, number[][]> = {
  '2,2,6,2': A_F_P,
  '2,2,8,2': [[3, 3], [13, 13], Array(8).fill(13), [13, 13]],
  '3,3,18,3': [[3, 3, 3], [13, 13, 13], Array.from({ length: 18 }, (_, i) => (i % 2 ? 3 : 13)), [13, 13, 13]],
  '3,3,27,3': [[3, 3, 3], [13, 13, 13], Array.from({ length: 27 }, (_, i) => (i % 3 ? 3 : 13)), [13, 13, 13]],
};

/** LayerNorm over channels (the official channels_first LayerNorm, eps 1e-6). */
const channelNorm = (c: number) => new LayerNorm(c, 1e-6);

/** Official `_init_weights`: trunc_normal(std .02) on every Conv2d and Linear weight, zero biases. */
function truncNormalInit(m: Module): void {
  if (m instanceof Conv2d || m instanceof Linear) {
    m.weight.init = truncNormal(0.02);
    if (m.bias) m.bias.init = zeros;
  }
}

export class UniRepLKNet extends Backbone {
  readonly numClasses: number;
  readonly featureInfo: FeatureInfo[];
  readonly downsample_layers: ModuleList<Sequential>;
  readonly stages: ModuleList<Sequential>;
  readonly norm: LayerNorm;
  readonly head: Linear | Identity;
  readonly dims: number[];
  /** The pooled-feature LayerNorm belongs to the classifier (features-only models return raw stage maps). */
  override readonly headModules: readonly string[] = ['norm', 'head'];

  constructor(cfg: UniRepLKNetConfig) {
    super();
    const { depths, dims } = cfg;
    if (depths.length !== 4 || dims.length !== 4) throw new Error('UniRepLKNet: depths and dims need 4 stages');
    const kernels = cfg.kernelSizes ?? DEFAULT_KERNELS[depths.join(',')];
    if (!kernels) throw new Error(`UniRepLKNet: no default kernel sizes for depths [${depths}]; pass kernelSizes`);
    kernels.forEach((k, i) => {
      if (k.length !== depths[i]) throw new Error(`UniRepLKNet: stage ${i} has ${depths[i]} blocks but ${k.length} kernel sizes`);
    });
    this.dims = dims;
    this.numClasses = cfg.numClasses ?? 1000;
    const inChans = cfg.inChans ?? 3;
    const stem = new Sequential(
      new Conv2d(inChans, dims[0]! >> 1, 3, { stride: 2, padding: 1 }),
      channelNorm(dims[0]! >> 1),
      new GELU(),
      new Conv2d(dims[0]! >> 1, dims[0]!, 3, { stride: 2, padding: 1 }),
      channelNorm(dims[0]!),
    );
    const downs = [1, 2, 3].map((i) => new Sequential(new Conv2d(dims[i - 1]!, dims[i]!, 3, { stride: 2, padding: 1 }), channelNorm(dims[i]!)));
    this.downsample_layers = this.add('downsample_layers', new ModuleList([stem, ...downs]));
    const dpr = dropPathSchedule(depths.reduce((a, b) => a + b, 0), cfg.dropPathRate ?? 0);
    let cur = 0;
    const stages = depths.map((d, i) => {
      const blocks = Array.from({ length: d }, (_, j) => {
        return new UniRepLKNetBlock(dims[i]!, kernels[i]![j]!, { dropPath: dpr[cur + j]!, layerScaleInit: cfg.layerScaleInit, deploy: cfg.deploy });
      });
      cur += d;
      return new Sequential(...blocks);
    });
    this.stages = this.add('stages', new ModuleList(stages));
    this.norm = this.add('norm', new LayerNorm(dims[3]!, 1e-6));
    this.head = this.add('head', this.numClasses > 0 ? new Linear(dims[3]!, this.numClasses) : new Identity());
    this.featureInfo = dims.map((c, i) => ({ channels: c, reduction: 4 * 2 ** i, module: `stages.${i}` }));
    this.apply(truncNormalInit);
    const s = cfg.headInitScale ?? 1;
    if (this.head instanceof Linear && s !== 1) this.head.weight.init = truncNormal(0.02 * s, -2 * s, 2 * s);
  }


  checkpointUnits(): Module[] {
    return this.stages.items.flatMap((s) => s.layers);
  }

  forwardIntermediates(x: Tensor, indices: number[] = [0, 1, 2, 3]): Tensor[] {
    return this.runStages(x, indices, (i, y) => this.stages.items[i]!.forward(this.downsample_layers.items[i]!.forward(y)));
  }

  /** Mean over H and W of the last stage, then the final LayerNorm: (B, C3). */
  forwardFeatures(x: Tensor): Tensor {
    return tf.tidy(() => this.norm.forward(tf.mean(this.forwardIntermediates(x, [3])[0]!, [1, 2])));
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.head.forward(this.forwardFeatures(x)));
  }
}

/**
 * Official checkpoints (HF DingXiaoH/UniRepLKNet, train form; load into the train variant, then
 * `reparameterize`). Eval preprocessing from the repo's datasets.py: ImageNet mean/std, bicubic;
 * 224: resize to int(224 / 0.875) then center crop; 384: direct resize without crop (vizoo's
 * transform resizes the shorter side, which equals it for square images).
 */
const HF = 'https://huggingface.co/DingXiaoH/UniRepLKNet/resolve/main';
const uniCfg = (size: number, file: string | undefined, notes: string): PretrainedConfig =>
  imagenetConfig({
    inputSize: [3, size, size],
    cropPct: size >= 384 ? 1 : 0.875,
    interpolation: 'bicubic',
    url: file ? `${HF}/${file}` : undefined,
    firstConv: 'downsample_layers.0.0',
    notes: `AILab-CVC/UniRepLKNet@b5677d8 unireplknet.py; preprocessing from datasets.py. ${notes}`,
  });

/** Depths for a `depths` override, with the variant's per-block kernel sizes cut to match. */
function uniDepths(o: ModelOptions, variant: number[]): { depths: number[]; kernelSizes: number[][] } {
  const depths = stageDepths(o, variant);
  return { depths, kernelSizes: perBlock(DEFAULT_KERNELS[variant.join(',')]!, depths, 'UniRepLKNet kernel sizes') };
}

const VARIANTS: [string, number[], number[], number, string | undefined, string][] = [
  ['a', [2, 2, 6, 2], [40, 80, 160, 320], 224, 'unireplknet_a_in1k_224_acc77.03.pth', 'IN-1k 77.0 top-1.'],
  ['f', [2, 2, 6, 2], [48, 96, 192, 384], 224, 'unireplknet_f_in1k_224_acc78.58.pth', 'IN-1k 78.6 top-1.'],
  ['p', [2, 2, 6, 2], [64, 128, 256, 512], 224, 'unireplknet_p_in1k_224_acc80.23.pth', 'IN-1k 80.2 top-1.'],
  ['n', [2, 2, 8, 2], [80, 160, 320, 640], 224, 'unireplknet_n_in1k_224_acc81.64.pth', 'IN-1k 81.6 top-1.'],
  ['t', [3, 3, 18, 3], [80, 160, 320, 640], 224, 'unireplknet_t_in1k_224_acc83.21.pth', 'IN-1k 83.2 top-1.'],
  ['s', [3, 3, 27, 3], [96, 192, 384, 768], 224, 'unireplknet_s_in1k_224_acc83.91.pth', 'IN-1k 83.9 top-1 (22k->1k at 384: unireplknet_s_in22k_to_in1k_384_acc86.44.pth).'],
  ['b', [3, 3, 27, 3], [128, 256, 512, 1024], 384, 'unireplknet_b_in22k_to_in1k_384_acc87.40.pth', 'IN-22k -> 1k at 384, 87.4 top-1.'],
  ['l', [3, 3, 27, 3], [192, 384, 768, 1536], 384, 'unireplknet_l_in22k_to_in1k_384_acc87.88.pth', 'IN-22k -> 1k at 384, 87.9 top-1.'],
  ['xl', [3, 3, 27, 3], [256, 512, 1024, 2048], 384, 'unireplknet_xl_in22k_to_in1k_384_acc87.96.pth', 'IN-22k -> 1k at 384, 88.0 top-1.'],
];

for (const [v, depths, dims, size, file, notes] of VARIANTS) {
  for (const deploy of [false, true]) {
    registerModel({
      name: `unireplknet_${v}${deploy ? '_deploy' : ''}`,
      architecture: 'UniRepLKNet',
      description: deploy ? 'deploy form (re-parameterized; equals reparameterize() of the train form)' : 'train form (dilated branches, BNs, GRN beta, layer scale)',
      pretrainedCfg: uniCfg(size, deploy ? undefined : file, deploy ? 'Deploy form: no official file; load the train checkpoint and reparameterize.' : notes),
      depths,
      build: (o: ModelOptions) => new UniRepLKNet({ ...uniDepths(o, depths), dims, deploy, numClasses: o.numClasses, inChans: o.inChans, dropPathRate: o.dropPathRate }),
    });
  }
}
