/**
 * Initializers: each fills a PyTorch-layout array (fan computations follow PyTorch's conventions) from a
 * seeded Rng, so a model's initial weights depend only on the seed and the parameter's name.
 */
import type { Rng } from './rng.js';
import { numel } from '../hub/host_tensor.js';

export type Init = (shape: readonly number[], rng: Rng) => Float32Array;

export const constant = (value: number): Init => (shape) => new Float32Array(numel(shape)).fill(value);
export const zeros: Init = constant(0);
export const ones: Init = constant(1);

export const normal = (std: number, mean = 0): Init => (shape, rng) => {
  const out = new Float32Array(numel(shape));
  for (let i = 0; i < out.length; i++) out[i] = mean + std * rng.normal();
  return out;
};

export const uniform = (low: number, high: number): Init => (shape, rng) => {
  const out = new Float32Array(numel(shape));
  for (let i = 0; i < out.length; i++) out[i] = low + (high - low) * rng.uniform();
  return out;
};

/** timm's trunc_normal_(std, a, b): N(mean, std) resampled into [a, b] (absolute bounds, default +-2). */
export const truncNormal = (std: number, a = -2, b = 2, mean = 0): Init => (shape, rng) => {
  const out = new Float32Array(numel(shape));
  for (let i = 0; i < out.length; i++) {
    let v: number;
    do v = mean + std * rng.normal();
    while (v < a || v > b);
    out[i] = v;
  }
  return out;
};

/** fan_in / fan_out of a PyTorch weight: dim 1 / dim 0 times the receptive field. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: (shape[1] ?? 1) * receptive, fanOut: (shape[0] ?? 1) * receptive };
}

/** PyTorch's default Conv/Linear weight init: kaiming_uniform(a=sqrt(5)) = U(+-1/sqrt(fan_in)). */
export const torchDefaultWeight: Init = (shape, rng) => {
  const bound = 1 / Math.sqrt(Math.max(1, fans(shape).fanIn));
  return uniform(-bound, bound)(shape, rng);
};

/** PyTorch's default Conv/Linear bias init: U(+-1/sqrt(fan_in)) of the matching weight. */
export const torchDefaultBias = (fanIn: number): Init => {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform(-bound, bound);
};

/** xavier_uniform_(gain): U(+-gain * sqrt(6 / (fan_in + fan_out))). */
export const xavierUniform = (gain = 1): Init => (shape, rng) => {
  const { fanIn, fanOut } = fans(shape);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(-bound, bound)(shape, rng);
};
