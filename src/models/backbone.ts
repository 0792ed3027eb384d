/** What every registered model offers: classification, stage feature maps, head reset (timm's interface). */
import type { Tensor } from '../tf.js';
import { Module } from '../nn/module.js';
import type { PretrainedConfig } from './registry.js';

export interface FeatureInfo {
  /** Channels of the stage output. */
  channels: number;
  /** Total stride relative to the input. */
  reduction: number;
  /** State dict prefix of the module that produces it. */
  module: string;
}

export abstract class Backbone extends Module {
  /** Set by createModel. */
  pretrainedCfg!: PretrainedConfig;
  variant = '';

  abstract readonly numClasses: number;
  abstract readonly featureInfo: FeatureInfo[];

  /** NHWC image batch -> logits (B, numClasses). */
  abstract forward(x: Tensor): Tensor;

  /** NHWC image batch -> the NHWC map of every stage in `indices` (default: all). */
  abstract forwardIntermediates(x: Tensor, indices?: number[]): Tensor[];
}
