// Feature pyramids (timm's features_only): every backbone family returns its per-stage NHWC maps with the
// channels and strides its featureInfo declares, and keeps the official keys minus the classifier.
import { describe, expect, it } from 'vitest';
import { createModel, tf } from '../../src/index.js';

const CASES: { name: string; channels: number[]; reductions: number[]; dropped: string[] }[] = [
  { name: 'van_b0', channels: [32, 64, 160, 256], reductions: [4, 8, 16, 32], dropped: ['head.'] },
  { name: 'unireplknet_a', channels: [40, 80, 160, 320], reductions: [4, 8, 16, 32], dropped: ['head.', 'norm.'] },
  { name: 'unireplknet_a_deploy', channels: [40, 80, 160, 320], reductions: [4, 8, 16, 32], dropped: ['head.', 'norm.'] },
  { name: 'bevanet_s_seg', channels: [32, 64, 128, 256, 512], reductions: [4, 8, 16, 32, 64], dropped: ['head.', 'spp.', 'dfm.', 'seghead_ds.', 'layer3_detail.', 'fuse_sd_4.'] },
  { name: 'bevanet_s_cls', channels: [32, 64, 128, 256, 512], reductions: [4, 8, 16, 32, 32], dropped: ['head.', 'last_layer.', 'layer5_down.', 'compression3.'] },
];

describe('features: true', () => {
  for (const c of CASES) {
    it(`${c.name}: stage maps at 1/${c.reductions.join(', 1/')} with ${c.channels.join(', ')} channels`, async () => {
      const full = createModel(c.name, { init: false });
      expect(full.featureInfo.map((f) => f.channels)).toEqual(c.channels);
      expect(full.featureInfo.map((f) => f.reduction)).toEqual(c.reductions);
      const all = c.channels.map((_, i) => i);
      const fm = createModel(c.name, { features: true, seed: 1 }).eval();
      const [h, w] = [64, 96];
      const x = tf.randomNormal([1, h, w, 3], 0, 1, 'float32', 2);
      const maps = fm.forward(x);
      expect(maps.map((m) => m.shape)).toEqual(all.map((i) => [1, Math.ceil(h / c.reductions[i]!), Math.ceil(w / c.reductions[i]!), c.channels[i]]));
      const keys = fm.stateDictInfo().map((e) => e.key);
      const fullKeys = new Set(full.stateDictInfo().map((e) => e.key));
      expect(keys.every((k) => fullKeys.has(k))).toBe(true);
      for (const d of c.dropped) expect(keys.some((k) => k.startsWith(d))).toBe(false);
      // outIndices picks stages and their featureInfo.
      const pick = [1, all.length - 1];
      const sub = createModel(c.name, { features: true, outIndices: pick, seed: 1 }).eval();
      expect(sub.featureInfo.map((f) => f.reduction)).toEqual(pick.map((i) => c.reductions[i]));
      const subMaps = sub.forward(x);
      expect(subMaps.map((m) => m.shape[3])).toEqual(pick.map((i) => c.channels[i]));
      tf.dispose(subMaps);
      sub.dispose();
      tf.dispose([x, ...maps]);
      fm.dispose();
    });
  }
});
