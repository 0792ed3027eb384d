/** What every registered model offers: classification, stage feature maps, head reset (timm's interface). */
import { tf, type Tensor } from '../tf.js';
import { Module } from '../nn/module.js';
import { isCheckpointed, setCheckpointing } from '../nn/checkpoint.js';
import type { PretrainedConfig } from './registry.js';

export interface FeatureInfo {
  /** Channels of the stage output. */
  channels: number;
  /** Total stride relative to the input. */
  reduction: number;
  /** State dict prefix of the module that produces it. */
  module: string;
}

/** An absolute position embedding: its state dict key, the token grid it covers, its leading non-grid tokens. */
export interface PositionEmbedding {
  key: string;
  grid: [number, number];
  prefixTokens: number;
}

/**
 * Whether weights trained at one input size serve another (`vizoo info`, loadModel's imgSize): 'any' when no
 * parameter depends on it, 'resample' when absolute position embeddings are resampled as they load (timm's
 * resample_abs_pos_embed), 'fixed' when per-token parameters or schedules tie the weights to their size.
 */
export interface InputSizeSupport {
  kind: 'any' | 'resample' | 'fixed';
  /** What depends on the size (or, for 'fixed', why it cannot change). */
  note: string;
}

export abstract class Backbone extends Module {
  /** Set by createModel. */
  pretrainedCfg!: PretrainedConfig;
  variant = '';

  abstract readonly numClasses: number;
  abstract readonly featureInfo: FeatureInfo[];

  /** How weights trained at another input size load into this model. */
  readonly inputSizeSupport: InputSizeSupport = { kind: 'any', note: 'no parameter depends on the input size' };

  /** The model's absolute position embeddings (none by default). */
  positionEmbeddings(): PositionEmbedding[] {
    return [];
  }

  /** Top-level children used only by the classifier; a features-only model drops them. */
  readonly headModules: readonly string[] = ['head'];

  /** NHWC image batch -> logits (B, numClasses). */
  abstract forward(x: Tensor): Tensor;

  /**
   * The residual blocks that activation checkpointing recomputes (timm's `set_grad_checkpointing` units):
   * with it on, each keeps only its inputs for the backward pass and runs again inside its gradient.
   */
  abstract checkpointUnits(): Module[];

  /** Turns per-block activation checkpointing on or off (off at construction). */
  setGradCheckpointing(enable = true): this {
    setCheckpointing(this.checkpointUnits(), enable);
    return this;
  }

  get gradCheckpointing(): boolean {
    return this.checkpointUnits().some(isCheckpointed);
  }

  /** NHWC image batch -> the NHWC map of every stage in `indices` (default: all). */
  abstract forwardIntermediates(x: Tensor, indices?: number[]): Tensor[];

  /**
   * The forward_intermediates loop: stage(i, y) for i = 0..max(indices), each fed the previous stage's
   * result, keeping output(i, y) (default: y itself) of the requested stages.
   */
  protected runStages(x: Tensor, indices: number[], stage: (i: number, y: Tensor) => Tensor, output: (i: number, y: Tensor) => Tensor = (_, y) => y): Tensor[] {
    return tf.tidy(() => {
      const outs: Tensor[] = [];
      let y = x;
      for (let i = 0; i <= Math.max(...indices); i++) {
        y = stage(i, y);
        if (indices.includes(i)) outs.push(output(i, y));
      }
      return outs;
    });
  }
}

/**
 * timm's `features_only`: the backbone without its classifier, returning the NHWC map of each stage in
 * `outIndices`. State dict keys stay the official ones (minus the head).
 */
export class FeatureModel extends Module {
  readonly featureInfo: FeatureInfo[];
  readonly outIndices: number[];

  constructor(
    readonly backbone: Backbone,
    outIndices: number[] = backbone.featureInfo.map((_, i) => i),
  ) {
    super();
    // Backbones return maps in stage order, so the indices are kept sorted (and unique) to match.
    this.outIndices = [...new Set(outIndices)].sort((a, b) => a - b);
    outIndices = this.outIndices;
    const n = backbone.featureInfo.length;
    for (const i of outIndices) if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`outIndices: ${i} is not a stage index (0..${n - 1})`);
    this.adoptMembers(backbone, backbone.headModules);
    this.featureInfo = outIndices.map((i) => backbone.featureInfo[i]!);
  }

  get pretrainedCfg(): PretrainedConfig {
    return this.backbone.pretrainedCfg;
  }

  override train(mode = true): this {
    this.backbone.train(mode);
    return super.train(mode);
  }

  forward(x: Tensor): Tensor[] {
    return this.backbone.forwardIntermediates(x, this.outIndices);
  }

  setGradCheckpointing(enable = true): this {
    this.backbone.setGradCheckpointing(enable);
    return this;
  }
}
