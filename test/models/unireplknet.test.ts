// UniRepLKNet: GRN and SE against naive references, and structural re-parameterization of blocks and
// whole models (train == deploy in eval, deploy state dict == the deploy-built model's).
import { describe, expect, it } from 'vitest';
import { createModel, reparameterize, tf } from '../../src/index.js';
import { GRN } from '../../src/blocks/grn.js';
import { SEBlock } from '../../src/blocks/squeeze_excite.js';
import { UniRepLKNet, UniRepLKNetBlock } from '../../src/models/unireplknet.js';
import { maxAbs, maxAbsDiff, randomArray, randomizeModule } from '../helpers/naive.js';

describe('GRN', () => {
  for (const useBias of [true, false]) {
    it(`matches (gamma * G / (mean_c G + 1e-6) + 1) * x + beta (bias ${useBias}, batch 2, 5x3)`, async () => {
      const [b, h, w, c] = [2, 5, 3, 6];
      const grn = new GRN(c, useBias);
      randomizeModule(grn, 11);
      const xa = randomArray(b * h * w * c, 12);
      const gamma = (await grn.gamma.toHost()).data as Float32Array;
      const beta = useBias ? ((await grn.beta!.toHost()).data as Float32Array) : new Float32Array(c);
      const ref = new Float32Array(xa.length);
      for (let n = 0; n < b; n++) {
        const g = Array.from({ length: c }, (_, ch) => {
          let s = 0;
          for (let i = 0; i < h * w; i++) s += xa[(n * h * w + i) * c + ch]! ** 2;
          return Math.sqrt(s);
        });
        const mean = g.reduce((a, v) => a + v, 0) / c;
        for (let i = 0; i < h * w; i++)
          for (let ch = 0; ch < c; ch++) {
            const j = (n * h * w + i) * c + ch;
            ref[j] = (gamma[ch]! * (g[ch]! / (mean + 1e-6)) + 1) * xa[j]! + beta[ch]!;
          }
      }
      const x = tf.tensor4d(xa, [b, h, w, c]);
      expect(maxAbsDiff((await grn.forward(x).data()) as Float32Array, ref)).toBeLessThan(1e-5);
      x.dispose();
    });
  }
});

describe('SEBlock', () => {
  it('rescales channels by sigmoid(up(relu(down(mean))))', async () => {
    const [b, h, w, c, r] = [2, 3, 4, 8, 2];
    const se = new SEBlock(c, r);
    randomizeModule(se, 21);
    const sd = await se.stateDict();
    const f = (k: string) => sd.get(k)!.data as Float32Array;
    const xa = randomArray(b * h * w * c, 22);
    const ref = new Float32Array(xa.length);
    for (let n = 0; n < b; n++) {
      const m = Array.from({ length: c }, (_, ch) => {
        let s = 0;
        for (let i = 0; i < h * w; i++) s += xa[(n * h * w + i) * c + ch]!;
        return s / (h * w);
      });
      const z = Array.from({ length: r }, (_, o) => Math.max(0, f('down.bias')[o]! + m.reduce((a, v, ch) => a + v * f('down.weight')[o * c + ch]!, 0)));
      const s = Array.from({ length: c }, (_, o) => 1 / (1 + Math.exp(-(f('up.bias')[o]! + z.reduce((a, v, k) => a + v * f('up.weight')[o * r + k]!, 0)))));
      for (let i = 0; i < h * w; i++) for (let ch = 0; ch < c; ch++) ref[(n * h * w + i) * c + ch] = xa[(n * h * w + i) * c + ch]! * s[ch]!;
    }
    const x = tf.tensor4d(xa, [b, h, w, c]);
    expect(maxAbsDiff((await se.forward(x).data()) as Float32Array, ref)).toBeLessThan(1e-5);
    x.dispose();
  });
});

async function expectReparamEquivalent(m: { forward(x: tf.Tensor): tf.Tensor } & import('../../src/index.js').Module, x: tf.Tensor): Promise<void> {
  m.eval();
  const before = (await m.forward(x).data()) as Float32Array;
  reparameterize(m);
  const after = (await m.forward(x).data()) as Float32Array;
  expect(maxAbsDiff(before, after)).toBeLessThan(2e-5 * Math.max(1, maxAbs(before)));
}

describe('UniRepLKNetBlock reparameterization', () => {
  for (const [k, ls] of [[13, 1e-6], [7, null], [5, 1e-6], [3, 0.5], [0, 1e-6]] as [number, number | null][]) {
    it(`K=${k}, layer scale ${ls}: deploy output == train output, keys == deploy-built block`, async () => {
      const dim = 8;
      const blk = new UniRepLKNetBlock(dim, k, { layerScaleInit: ls });
      randomizeModule(blk, 31 + k);
      const x = tf.tensor4d(randomArray(2 * 9 * 7 * dim, 32), [2, 9, 7, dim]);
      await expectReparamEquivalent(blk, x);
      const deployBuilt = new UniRepLKNetBlock(dim, k, { layerScaleInit: ls, deploy: true });
      expect(blk.stateDictInfo()).toEqual(deployBuilt.stateDictInfo());
      x.dispose();
    });
  }
});

describe('UniRepLKNet reparameterization', () => {
  it('a small model (kernels 3 / 13 / 7, 5 / 0, batch 2, 37x45) keeps its logits', async () => {
    const cfg = { depths: [1, 1, 2, 1], dims: [8, 16, 24, 32], kernelSizes: [[3], [13], [7, 5], [0]], numClasses: 5 };
    const m = new UniRepLKNet(cfg).initialize(1);
    randomizeModule(m, 41);
    const x = tf.tensor4d(randomArray(2 * 37 * 45 * 3, 42), [2, 37, 45, 3]);
    await expectReparamEquivalent(m, x);
    expect(m.stateDictInfo()).toEqual(new UniRepLKNet({ ...cfg, deploy: true }).stateDictInfo());
    x.dispose();
  });

  it('reparameterize(unireplknet_a) has exactly the state dict of unireplknet_a_deploy', () => {
    const m = reparameterize(createModel('unireplknet_a'));
    expect(m.stateDictInfo()).toEqual(createModel('unireplknet_a_deploy', { init: false }).stateDictInfo());
    expect(m.numParams()).toBe(4_437_300);
    m.dispose();
  });
});
