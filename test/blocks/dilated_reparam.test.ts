// Dilated Reparam Block: kernel dilation, train-form semantics against a naive conv reference, and
// train == deploy after re-parameterization for every kernel size of the official table.
import { describe, expect, it } from 'vitest';
import { BatchNorm2d, reparameterize, tf } from '../../src/index.js';
import { DILATED_BRANCHES, DilatedReparamBlock, dilateKernel } from '../../src/blocks/dilated_reparam.js';
import { maxAbs, maxAbsDiff, naiveConv2d, randomArray, randomizeModule, toNhwc } from '../helpers/naive.js';

describe('dilateKernel', () => {
  it('spreads a 3x3 kernel to 5x5 at rate 2 with zeros between taps', async () => {
    const w = tf.tensor4d(Float32Array.from({ length: 9 }, (_, i) => i + 1), [3, 3, 1, 1]);
    const d = dilateKernel(w, 2);
    expect(d.shape).toEqual([5, 5, 1, 1]);
    const v = Array.from(await d.data());
    const want = Array.from({ length: 25 }, (_, i) => {
      const [r, c] = [Math.floor(i / 5), i % 5];
      return r % 2 || c % 2 ? 0 : (r / 2) * 3 + c / 2 + 1;
    });
    expect(v).toEqual(want);
    tf.dispose([w, d]);
  });
});

describe('DilatedReparamBlock', () => {
  it('train form = BN(large conv) + sum of BN(dilated conv) (naive reference, K=9, batch 2, odd size)', async () => {
    const c = 3;
    const blk = new DilatedReparamBlock(c, 9).eval();
    randomizeModule(blk, 3);
    const x = tf.tensor4d(randomArray(2 * 11 * 9 * c, 5), [2, 11, 9, c]);
    const xs = await toNhwc(x);
    const sd = await blk.stateDict();
    const f32 = (k: string) => sd.get(k)!.data as Float32Array;
    const bn = (y: Float32Array, prefix: string) => {
      const [g, b, m, v] = ['weight', 'bias', 'running_mean', 'running_var'].map((n) => f32(`${prefix}.${n}`));
      return y.map((val, i) => ((val - m![i % c]!) / Math.sqrt(v![i % c]! + 1e-5)) * g![i % c]! + b![i % c]!);
    };
    let ref = bn(naiveConv2d(xs, f32('lk_origin.weight'), { out: c, k: [9, 9], pad: [4, 4], groups: c }).data, 'origin_bn');
    DILATED_BRANCHES[9]!.kernels.forEach((k, i) => {
      const r = DILATED_BRANCHES[9]!.dilations[i]!;
      const p = (r * (k - 1)) / 2;
      const y = naiveConv2d(xs, f32(`dil_conv_k${k}_${r}.weight`), { out: c, k: [k, k], pad: [p, p], dil: [r, r], groups: c });
      const z = bn(y.data, `dil_bn_k${k}_${r}`);
      ref = ref.map((v, j) => v + z[j]!);
    });
    const ours = (await blk.forward(x).data()) as Float32Array;
    expect(maxAbsDiff(ours, ref)).toBeLessThan(1e-4 * Math.max(1, maxAbs(ref)));
    x.dispose();
    blk.dispose();
  });

  for (const k of Object.keys(DILATED_BRANCHES).map(Number)) {
    it(`reparameterize keeps the function and leaves one ${k}x${k} conv with bias`, async () => {
      const c = 4;
      const blk = new DilatedReparamBlock(c, k).eval();
      randomizeModule(blk, k);
      const x = tf.tensor4d(randomArray(2 * 13 * 10 * c, k + 1), [2, 13, 10, c]);
      const before = (await blk.forward(x).data()) as Float32Array;
      reparameterize(blk);
      expect(blk.deploy).toBe(true);
      expect(blk.stateDictInfo().map((e) => [e.key, e.shape])).toEqual([
        ['lk_origin.weight', [c, 1, k, k]],
        ['lk_origin.bias', [c]],
      ]);
      const after = (await blk.forward(x).data()) as Float32Array;
      expect(maxAbsDiff(before, after)).toBeLessThan(1e-5 * Math.max(1, maxAbs(before)));
      reparameterize(blk); // idempotent
      expect(maxAbsDiff(after, (await blk.forward(x).data()) as Float32Array)).toBe(0);
      x.dispose();
      blk.dispose();
    });
  }

  it('a deploy-built block has the fused keys and refuses unknown kernel sizes', () => {
    expect(new DilatedReparamBlock(2, 13, true).stateDictInfo().map((e) => e.key)).toEqual(['lk_origin.weight', 'lk_origin.bias']);
    expect(() => new DilatedReparamBlock(2, 8)).toThrow(/kernel_size 8/);
    expect(new DilatedReparamBlock(2, 5).namedChildren().filter(([, m]) => m instanceof BatchNorm2d).length).toBe(3);
  });
});
