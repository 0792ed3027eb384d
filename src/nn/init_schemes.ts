/** Whole-model init schemes of the official repos, applied like PyTorch's `model.apply(_init_weights)`. */
import type { Module } from './module.js';
import { BatchNorm2d, Conv2d, LayerNorm, Linear } from './layers.js';
import { normal, ones, truncNormal, zeros } from './init.js';

/** Conv weight ~ N(0, sqrt(2 / fan_out)), fan_out = kh*kw*out/groups, zero bias (PVT, VAN, SegFormer, LITv2). */
export function initConvFanOut(c: Conv2d): void {
  const fanOut = (c.kernelSize[0] * c.kernelSize[1] * c.outChannels) / c.groups;
  c.weight.init = normal(Math.sqrt(2 / fanOut));
  if (c.bias) c.bias.init = zeros;
}

/** timm's ViT `_init_weights`: Linear trunc_normal(std .02) and zero bias; LayerNorm (1, 0); convs untouched. */
export function vitInit(m: Module): void {
  if (m instanceof Linear) {
    m.weight.init = truncNormal(0.02);
    if (m.bias) m.bias.init = zeros;
  } else if (m instanceof LayerNorm) {
    if (m.weight) m.weight.init = ones;
    if (m.bias) m.bias.init = zeros;
  }
}

/**
 * The PVT/VAN/SegFormer `_init_weights`: every Conv2d by fan-out (initConvFanOut), Linear and LayerNorm as
 * vitInit. BatchNorm keeps PyTorch's default (1, 0).
 */
export function fanOutConvInit(m: Module): void {
  if (m instanceof Conv2d) initConvFanOut(m);
  else if (m instanceof BatchNorm2d) {
    if (m.weight) m.weight.init = ones;
    if (m.bias) m.bias.init = zeros;
  } else vitInit(m);
}
