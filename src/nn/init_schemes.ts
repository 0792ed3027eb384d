/** Whole-model init schemes of the official repos, applied like PyTorch's `model.apply(_init_weights)`. */
import type { Module } from './module.js';
import { BatchNorm2d, Conv2d, LayerNorm, Linear } from './layers.js';
import { normal, ones, truncNormal, zeros } from './init.js';

/**
 * The PVT/VAN/SegFormer `_init_weights`: Conv2d ~ N(0, sqrt(2 / fan_out)) with
 * fan_out = kh*kw*out/groups and zero bias; Linear trunc_normal(std .02) and zero bias; LayerNorm (1, 0).
 * BatchNorm keeps PyTorch's default (1, 0).
 */
export function fanOutConvInit(m: Module): void {
  if (m instanceof Conv2d) {
    const fanOut = (m.kernelSize[0] * m.kernelSize[1] * m.outChannels) / m.groups;
    m.weight.init = normal(Math.sqrt(2 / fanOut));
    if (m.bias) m.bias.init = zeros;
  } else if (m instanceof Linear) {
    m.weight.init = truncNormal(0.02);
    if (m.bias) m.bias.init = zeros;
  } else if (m instanceof LayerNorm || m instanceof BatchNorm2d) {
    if (m.weight) m.weight.init = ones;
    if (m.bias) m.bias.init = zeros;
  }
}

/**
 * The timm ViT / Swin / NAT `_init_weights`: Linear trunc_normal(std .02) with zero bias, LayerNorm (1, 0);
 * convolutions keep PyTorch's default init.
 */
export function truncNormalLinearInit(m: Module): void {
  if (m instanceof Linear) {
    m.weight.init = truncNormal(0.02);
    if (m.bias) m.bias.init = zeros;
  } else if (m instanceof LayerNorm) {
    if (m.weight) m.weight.init = ones;
    if (m.bias) m.bias.init = zeros;
  }
}
