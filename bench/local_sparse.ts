/**
 * Local/sparse attention benchmarks: the NA op alone (composite vs fused kernel of the backend), NAT/DiNAT
 * forward, and EET with vs without token pruning.
 */
import { createModel, tf } from '../src/index.js';
import { hasFusedNeighborhoodAttention, neighborhoodAttention, setNeighborhoodAttentionImpl } from '../src/kernels/neighborhood_attention.js';
import type { BenchCase, BenchModule } from './types.js';
import { modelForwardCase, moduleForwardCase } from './forward.js';

const NA_SHAPE = [1, 56, 56, 4, 32];

function naCase(impl: 'composite' | 'fused', withRpb: boolean): BenchCase {
  return {
    name: `NA2d k7 56x56x(4x32)${withRpb ? ' rpb' : ''} ${impl}`,
    setup: async () => {
      if (impl === 'fused' && !hasFusedNeighborhoodAttention()) throw new Error(`no fused kernel on ${tf.getBackend()}`);
      const [q, k, v] = [1, 2, 3].map((s) => tf.randomNormal(NA_SHAPE, 0, 1, 'float32', s));
      const rpb = withRpb ? tf.randomNormal([4, 13, 13], 0, 0.02, 'float32', 4) : null;
      return {
        run: async () => {
          const y = neighborhoodAttention(q!, k!, v!, { kernelSize: 7, rpb, impl });
          await y.data();
          y.dispose();
        },
        dispose: () => tf.dispose([q!, k!, v!, ...(rpb ? [rpb] : [])]),
      };
    },
  };
}

/** A model forward with the composite NA forced (to compare against the fused kernel in the same run). */
function compositeModelCase(model: string): BenchCase {
  const base = modelForwardCase(model, 1, 224, { iterations: 5 });
  return {
    ...base,
    name: `${base.name} composite NA`,
    setup: async () => {
      const r = await base.setup();
      return {
        ...r,
        run: async () => {
          setNeighborhoodAttentionImpl('composite');
          try {
            await r.run();
          } finally {
            setNeighborhoodAttentionImpl('auto');
          }
        },
      };
    },
  };
}

const fusedBackends = ['wasm', 'cpu', 'webgpu'] as const;

export const localSparse: BenchModule = {
  benchmarks: [
    naCase('composite', false),
    { ...naCase('fused', false), backends: [...fusedBackends] },
    naCase('composite', true),
    { ...naCase('fused', true), backends: [...fusedBackends] },
    modelForwardCase('nat_mini', 1, 224, { iterations: 5 }),
    // The composite NA is slow on cpu (its gathers run in JS); compare it where it is usable.
    { ...compositeModelCase('nat_mini'), backends: ['wasm', 'webgpu'] },
    modelForwardCase('dinat_mini', 1, 224, { iterations: 5 }),
    { ...moduleForwardCase('eet_vit_small (pruned) forward 1x3x224x224', () => createModel('eet_vit_small_cub_16bit'), [1, 224, 224, 3]), iterations: 5 },
    { ...moduleForwardCase('eet_vit_small (no pruning) forward 1x3x224x224', () => createModel('eet_vit_small_cub_16bit', { pruning: false }), [1, 224, 224, 3]), iterations: 5 },
  ],
  ratios: [
    { label: 'NA op fused / composite', numerator: 'NA2d k7 56x56x(4x32) fused', denominator: 'NA2d k7 56x56x(4x32) composite' },
    { label: 'NA op + rpb fused / composite', numerator: 'NA2d k7 56x56x(4x32) rpb fused', denominator: 'NA2d k7 56x56x(4x32) rpb composite' },
    { label: 'nat_mini fused / composite NA', numerator: 'nat_mini forward 1x3x224x224', denominator: 'nat_mini forward 1x3x224x224 composite NA' },
    { label: 'EET pruned / unpruned ViT-S', numerator: 'eet_vit_small (pruned) forward 1x3x224x224', denominator: 'eet_vit_small (no pruning) forward 1x3x224x224' },
  ],
};
