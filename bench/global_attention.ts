/**
 * LITv2 (HiLo), SOFT and KArAt forward passes at 224px, batch 1 and 8; LITv2 and SOFT also at 448px, and
 * their attention layers alone at the matching map sizes, with plain softmax attention (HiLo with window
 * size 1) as the quadratic baseline: a 2x larger side gives 4x tokens, so linear-cost attention should take
 * ~4x as long and quadratic attention ~16x.
 */
import { createModel } from '../src/index.js';
import { HiLo } from '../src/blocks/hilo.js';
import { SoftmaxFreeAttention } from '../src/blocks/soft_attention.js';
import { moduleForwardCase } from './forward.js';
import type { BenchCase, BenchModule, BenchRatio } from './types.js';

const model = (name: string, batch: number, size: number): BenchCase =>
  moduleForwardCase(`${name} forward ${batch}x3x${size}x${size}`, () => createModel(name), [batch, size, size, 3]);

// Stage 3 of LITv2-S (384 channels, 12 heads, 1/16 resolution): 14x14 at 224px, 28x28 at 448px.
const hilo = (side: number, ws: number): BenchCase =>
  moduleForwardCase(`${ws === 1 ? 'MHSA (HiLo ws 1)' : 'HiLo ws 2'} 384ch ${side}x${side}`, () => new HiLo(384, { numHeads: 12, windowSize: ws, alpha: 0.9, qkvBias: true }).initialize(0), [1, side, side, 384]);

// Stage 1 of SOFT-Tiny (64 channels, 2 heads, 8x8 landmark conv, 9x9 V conv): 56x56 at 224px, 112x112 at 448px.
const soft = (side: number): BenchCase =>
  moduleForwardCase(`SOFT attention 64ch ${side}x${side}`, () => new SoftmaxFreeAttention(64, 2, 8, 9).initialize(0), [1, side, side, 64]);

const ratio = (label: string, numerator: string, denominator: string): BenchRatio => ({ label, numerator, denominator });

export const globalAttention: BenchModule = {
  benchmarks: [
    model('litv2_s', 1, 224),
    model('litv2_s', 8, 224),
    model('litv2_s', 1, 448),
    model('soft_tiny', 1, 224),
    model('soft_tiny', 8, 224),
    model('soft_tiny', 1, 448),
    model('karat_vit_tiny_g3b', 1, 224),
    model('karat_vit_tiny_g3b', 8, 224),
    hilo(14, 2),
    hilo(28, 2),
    hilo(14, 1),
    hilo(28, 1),
    soft(56),
    soft(112),
  ],
  ratios: [
    ratio('litv2_s 448/224 (4x tokens)', 'litv2_s forward 1x3x448x448', 'litv2_s forward 1x3x224x224'),
    ratio('soft_tiny 448/224 (4x tokens)', 'soft_tiny forward 1x3x448x448', 'soft_tiny forward 1x3x224x224'),
    ratio('HiLo 28x28/14x14 (4x tokens)', 'HiLo ws 2 384ch 28x28', 'HiLo ws 2 384ch 14x14'),
    ratio('MHSA 28x28/14x14 (4x tokens, quadratic baseline)', 'MHSA (HiLo ws 1) 384ch 28x28', 'MHSA (HiLo ws 1) 384ch 14x14'),
    ratio('SOFT attention 112x112/56x56 (4x tokens)', 'SOFT attention 64ch 112x112', 'SOFT attention 64ch 56x56'),
  ],
};
