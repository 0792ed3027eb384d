// createModel's `depths` option (timm's depths kwarg): the variant's widths, heads, kernels and flags with
// other block counts. The ONNX export test builds every registered model this way at one block per stage.
import { describe, expect, it } from 'vitest';
import { createModel, getModelEntry, listModels } from '../../src/index.js';
import type { NAT } from '../../src/models/nat.js';

/** Block index of every key `prefix.<i>.` under the state dict, per prefix. */
function blockCount(keys: string[], prefix: RegExp): number {
  const ids = new Set(keys.map((k) => prefix.exec(k)?.[1]).filter((x): x is string => x !== undefined));
  return ids.size;
}

describe('depths option', () => {
  it('every registered model but BEVANet declares its blocks per stage and builds with one block per stage', () => {
    for (const name of listModels()) {
      const entry = getModelEntry(name);
      // BEVANet's block counts choose between block types (a count of 1 swaps a stage for an EVA block).
      if (entry.architecture === 'BEVANet') {
        expect(entry.depths, name).toBeUndefined();
        continue;
      }
      expect(entry.depths, name).toBeDefined();
      const full = createModel(name, { init: false });
      const small = createModel(name, { init: false, depths: entry.depths!.map(() => 1) });
      const shrinks = entry.depths!.some((d) => d > 1);
      if (shrinks) expect(small.numParams(), name).toBeLessThan(full.numParams());
      else expect(small.numParams(), name).toBe(full.numParams());
      full.dispose();
      small.dispose();
    }
  });

  it('keeps the first per-block settings: DiNAT dilations, UniRepLKNet kernel sizes, EET pruning inside the depth', () => {
    const dinat = createModel('dinat_mini', { init: false, depths: [2, 1, 3, 1] }) as unknown as NAT;
    const keys = dinat.stateDictInfo().map((e) => e.key);
    expect([0, 1, 2, 3].map((i) => blockCount(keys, new RegExp(`^levels\\.${i}\\.blocks\\.(\\d+)\\.`)))).toEqual([2, 1, 3, 1]);
    // DiNAT-Mini's dilations start [1, 8, 1], [1, 4, 1, 4], [1, 2, 1, 2, 1, 2], [1, 1, 1, 1, 1].
    expect(dinat.levels.items.map((l) => l.blocks.items.map((b) => b.attn.cfg.dilation))).toEqual([[1, 8], [1], [1, 2, 1], [1]]);
    // unireplknet_a: stage 0 uses 3x3 kernels (plain blocks), stage 1 13x13 dilated-reparam blocks.
    const uni = createModel('unireplknet_a', { init: false, depths: [1, 1, 1, 1] }).stateDictInfo();
    expect(uni.find((e) => e.key === 'stages.0.0.dwconv.weight')?.shape).toEqual([40, 1, 3, 3]);
    expect(uni.find((e) => e.key === 'stages.1.0.dwconv.lk_origin.weight')?.shape).toEqual([80, 1, 13, 13]);
    const eet = createModel('eet_vit_small_cub_16bit', { init: false, depths: [8] }) as unknown as { pruning: { after: number[]; keep: number[] } };
    expect(eet.pruning).toEqual({ after: [3, 7], keep: [98, 49] });
  });

  it('a wrong number of stages, a non-positive count or more blocks than per-block settings list are clear errors', () => {
    expect(() => createModel('van_b0', { init: false, depths: [1, 1, 1] })).toThrow(/van_b0: depths must be 4 positive integers \(the variant has \[3,3,5,2\]\)/);
    expect(() => createModel('vig_t', { init: false, depths: [0] })).toThrow(/vig_t: depths must be 1 positive integers/);
    expect(() => createModel('dinat_mini', { init: false, depths: [3, 4, 7, 5] })).toThrow(/DiNAT dilations: stage 2 lists 6 blocks, 7 asked for/);
    expect(() => createModel('bevanet_s_seg', { init: false, depths: [1, 1, 1, 1, 1] })).toThrow(/bevanet_s_seg does not take a depths option/);
  });
});
