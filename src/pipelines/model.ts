/**
 * What the inference pipelines need from a model: a vizoo Backbone (synchronous tfjs forward) or a model
 * running elsewhere (onnxruntime) with an asynchronous forward.
 */
import { tf, type Tensor } from '../tf.js';
import type { PretrainedConfig } from '../models/registry.js';

export interface InferenceModel {
  pretrainedCfg: PretrainedConfig;
  numClasses: number;
  variant: string;
  eval(): unknown;
  /** NHWC images -> logits (B, classes) or an NHWC logit map. */
  forward(x: Tensor): Tensor | Tensor[];
  /** Present when the model runs asynchronously (then `forward` may be unavailable). */
  forwardAsync?(x: Tensor): Promise<Tensor>;
}

/** The model's output for `x` (the caller disposes it). */
export async function runForward(model: InferenceModel, x: Tensor): Promise<Tensor> {
  if (model.forwardAsync) return model.forwardAsync(x);
  return tf.tidy(() => model.forward(x) as Tensor);
}
