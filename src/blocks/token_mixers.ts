/**
 * Token mixers: attention layers on (B, N, C) tokens that can take the place of softmax attention in a
 * ViT block (`createModel('vit_small', { mixer: 'transnormer_norm' })`). Each builds the official block
 * with the settings its paper uses, from the block's width, heads and depth position.
 */
import type { LayerModule } from '../nn/module.js';
import { Attention } from './attention.js';
import { NormLinearAttention, NormLocalAttention } from './transnormer.js';
import { BasedLinearAttention } from './based.js';
import { TnlAttention } from './lightning_attention.js';

export interface TokenMixerContext {
  dim: number;
  numHeads: number;
  /** Index of the block in the network and the number of blocks. */
  layerIdx: number;
  depth: number;
  qkvBias: boolean;
  attnDrop: number;
  projDrop: number;
}

/**
 * Which tokens an output token sees: every token ('all'), the tokens up to itself in raster order
 * ('causal': the official mechanism has no non-causal form), or only its own chunk ('chunk').
 */
export type TokenMixerReach = 'all' | 'causal' | 'chunk';

export interface TokenMixer {
  name: string;
  /** The block and where it comes from. */
  description: string;
  paper: string;
  /** Cost of one forward in the token count N (at a fixed width). */
  complexity: string;
  reach: TokenMixerReach;
  build(ctx: TokenMixerContext): LayerModule;
}

/** DiagAttention's chunk in vizoo's ViTs: the LRA TransNormer config's `lg_local_chunk_size`. */
export const VIT_DIAG_CHUNK = 64;
/** Based's feature_dim (the paper's and the repo's default). */
export const VIT_BASED_FEATURE_DIM = 16;

const diag = ({ dim, numHeads }: TokenMixerContext) => new NormLocalAttention(dim, numHeads, { chunkSize: VIT_DIAG_CHUNK, useSoftmax: true, normType: 'none' });
const norm = ({ dim, numHeads }: TokenMixerContext) => new NormLinearAttention(dim, numHeads, { actFun: '1+elu', normType: 'layer' });

export const TOKEN_MIXERS: readonly TokenMixer[] = [
  {
    name: 'softmax',
    description: "softmax attention (timm's ViT Attention, DeiT)",
    paper: 'Touvron et al., "Training data-efficient image transformers", ICML 2021 (arXiv 2012.12877)',
    complexity: 'O(N^2)',
    reach: 'all',
    build: ({ dim, numHeads, qkvBias, attnDrop, projDrop }) => new Attention(dim, numHeads, { qkvBias, attnDrop, projDrop }),
  },
  {
    name: 'transnormer_norm',
    description: "TransNormer NormAttention (lra NormLinearAttention: 1+elu features, LayerNorm of the heads)",
    paper: 'Qin et al., "The Devil in Linear Transformer", EMNLP 2022 (arXiv 2210.10340)',
    complexity: 'O(N)',
    reach: 'all',
    build: norm,
  },
  {
    name: 'transnormer_diag',
    description: `TransNormer DiagAttention (lra NormLocalAttention: softmax inside chunks of ${VIT_DIAG_CHUNK} tokens)`,
    paper: 'Qin et al., "The Devil in Linear Transformer", EMNLP 2022 (arXiv 2210.10340)',
    complexity: `O(N*c), c = ${VIT_DIAG_CHUNK}`,
    reach: 'chunk',
    build: diag,
  },
  {
    name: 'transnormer',
    description: 'TransNormer: DiagAttention in the first half of the blocks, NormAttention in the rest',
    paper: 'Qin et al., "The Devil in Linear Transformer", EMNLP 2022 (arXiv 2210.10340)',
    complexity: 'O(N)',
    reach: 'all',
    build: (ctx) => (ctx.layerIdx < Math.floor(ctx.depth / 2) ? diag(ctx) : norm(ctx)),
  },
  {
    name: 'based',
    description: `Based linear attention (2nd-order Taylor feature map of exp, feature_dim ${VIT_BASED_FEATURE_DIM}; causal)`,
    paper: 'Arora et al., "Simple linear attention language models balance the recall-throughput tradeoff", ICML 2024 (arXiv 2402.18668)',
    complexity: 'O(N)',
    reach: 'causal',
    build: ({ dim, numHeads }) => new BasedLinearAttention(dim, { featureDim: VIT_BASED_FEATURE_DIM, numHeads }),
  },
  {
    name: 'lightning2',
    description: 'Lightning Attention-2 (TransNormerLLM TnlAttention: per-head decayed linear attention in blocks; causal)',
    paper: 'Qin et al., "Lightning Attention-2: A Free Lunch for Handling Unlimited Sequence Lengths in Large Language Models" (arXiv 2401.04658)',
    complexity: 'O(N)',
    reach: 'causal',
    // The decay scale 1 - l/(L-1) is undefined for one block; a single block is a first block (l = 0).
    build: ({ dim, numHeads, layerIdx, depth }) => new TnlAttention(dim, numHeads, { layerIdx, numLayers: Math.max(2, depth) }),
  },
];

export function listTokenMixers(): string[] {
  return TOKEN_MIXERS.map((m) => m.name);
}

export function getTokenMixer(name: string): TokenMixer {
  const m = TOKEN_MIXERS.find((t) => t.name === name);
  if (!m) throw new Error(`unknown token mixer '${name}' (one of ${listTokenMixers().join(', ')}; vizoo list --mixers describes them)`);
  return m;
}
