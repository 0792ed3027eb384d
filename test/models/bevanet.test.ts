// BEVANet: ops and blocks on shapes and kwargs the fixtures do not cover (naive references for strip and
// strided dilated depthwise convs, count_include_pad and adaptive pooling, bilinear resizing), and the
// networks' structure: output shapes on sizes that are not multiples of 64, aux vs deploy form, other
// kernel configurations.
import { describe, expect, it } from 'vitest';
import { tf, type Tensor4D } from '../../src/tf.js';
import { F } from '../../src/nn/index.js';
import { DWConv } from '../../src/blocks/conv_mlp.js';
import { CKS, LSKA, SDLSKA } from '../../src/blocks/lska.js';
import { setFusedInference } from '../../src/kernels/inference.js';
import { KERNEL_SELECTION } from '../../src/kernels/kernel_selection.js';
import { BasicBlock, Bottleneck, makeLayer } from '../../src/blocks/pidnet.js';
import { BEVANetCls, BEVANetSeg, DLKPPM } from '../../src/models/bevanet.js';
import {
  fromNhwc,
  maxAbs,
  maxAbsDiff,
  naiveAdaptiveAvgPool,
  naiveAvgPool,
  naiveConv2d,
  naiveResizeBilinear,
  randomArray,
  randomizeModule,
  toNhwc,
} from '../helpers/naive.js';

const rand = (shape: [number, number, number, number], seed: number) => ({ data: randomArray(shape.reduce((a, b) => a * b, 1), seed), shape });

describe('BEVANet DWConv (depthwise strips, dilation, stride)', () => {
  const cases: { k: [number, number]; pad: [number, number]; dil: number; stride: number }[] = [
    { k: [3, 1], pad: [2, 0], dil: 2, stride: 1 },
    { k: [1, 11], pad: [0, 15], dil: 3, stride: 1 },
    { k: [1, 5], pad: [0, 6], dil: 3, stride: 2 },
    { k: [5, 5], pad: [1, 3], dil: 1, stride: 2 },
  ];
  for (const c of cases) {
    it(`kernel ${c.k}, padding ${c.pad}, dilation ${c.dil}, stride ${c.stride} matches a naive conv`, async () => {
      const ch = 3;
      const m = new DWConv(ch, { kernelSize: c.k, padding: c.pad, dilation: c.dil, stride: c.stride });
      randomizeModule(m, 7);
      const x = rand([2, 9, 13, ch], 8);
      const sd = await m.stateDict();
      const ref = naiveConv2d(x, sd.get('dwconv.weight')!.data as Float32Array, {
        out: ch, k: c.k, pad: c.pad, dil: [c.dil, c.dil], stride: [c.stride, c.stride], groups: ch, bias: sd.get('dwconv.bias')!.data as Float32Array,
      });
      const y = m.forward(fromNhwc(x));
      expect(y.shape).toEqual(ref.shape);
      expect(maxAbsDiff((await y.data()) as Float32Array, ref.data)).toBeLessThan(1e-5);
    });
  }
});

describe('DLKPPM pooling and resizing semantics', () => {
  it('AvgPool2d k5 s2 p2 and k9 s4 p4 count the zero padding (odd sizes)', async () => {
    const x = rand([2, 7, 5, 3], 1);
    for (const [k, s, p] of [[5, 2, 2], [9, 4, 4]]) {
      const ours = await toNhwc(F.avgPool2d(fromNhwc(x) as Tensor4D, k!, { stride: s, padding: p }));
      const ref = naiveAvgPool(x, k!, s!, p!);
      expect(ours.shape).toEqual(ref.shape);
      expect(maxAbsDiff(ours.data, ref.data)).toBeLessThan(1e-6);
    }
  });

  it('AdaptiveAvgPool2d(2) uses overlapping PyTorch bins on odd sizes', async () => {
    for (const shape of [[1, 7, 5, 2], [2, 3, 11, 2], [1, 1, 3, 2]] as [number, number, number, number][]) {
      const x = rand(shape, 2);
      const ours = await toNhwc(F.adaptiveAvgPool2d(fromNhwc(x) as Tensor4D, 2));
      expect(maxAbsDiff(ours.data, naiveAdaptiveAvgPool(x, 2, 2).data)).toBeLessThan(1e-6);
    }
  });

  it('bilinear resize: half-pixel (in-model) and align-corners (evaluation) on non-integer ratios', async () => {
    const x = rand([1, 3, 5, 2], 3);
    for (const [oh, ow, ac] of [[8, 13, false], [7, 9, true], [2, 3, false], [16, 40, true]] as [number, number, boolean][]) {
      const ours = await toNhwc(F.resizeBilinear(fromNhwc(x) as Tensor4D, [oh, ow], ac));
      expect(maxAbsDiff(ours.data, naiveResizeBilinear(x, oh, ow, ac).data)).toBeLessThan(1e-5);
    }
  });

  it('runs on maps smaller than its pooling windows (1x2, 3x1, batch 2)', () => {
    const m = new DLKPPM(8, 4, 6).eval();
    for (const [h, w] of [[1, 2], [3, 1]]) {
      const y = m.forward(tf.randomNormal([2, h!, w!, 8]));
      expect(y.shape).toEqual([2, h, w, 6]);
      expect(Number.isFinite(maxAbs(y.dataSync() as Float32Array))).toBe(true);
    }
  });
});

describe('PIDNet layers', () => {
  it('_make_layer: stride and downsample on block 0, final ReLU only off on the last block', () => {
    const basic = makeLayer('BasicBlock', 4, 8, 3, 2).layers as BasicBlock[];
    expect(basic.map((b) => b.noRelu)).toEqual([false, false, true]);
    expect(basic[0]!.downsample).not.toBeNull();
    expect(basic[0]!.conv1.stride).toEqual([2, 2]);
    const bottleneck = makeLayer('Bottleneck', 8, 4, 2).layers as Bottleneck[];
    expect(bottleneck.map((b) => b.noRelu)).toEqual([true, true]);
    expect(bottleneck[0]!.downsample).toBeNull(); // 8 == 4 * expansion 2
    expect(makeLayer('Bottleneck', 8, 8, 1).layers.length).toBe(1);
  });
});

describe('LSKA / SDLSKA', () => {
  it('LSKA modes keep their own strips', () => {
    const keys = (mode: 'a' | 'h' | 'v') => [...new Set(new LSKA(4, 23, mode).stateDictInfo().map((e) => e.key.split('.')[0]))];
    expect(keys('a')).toEqual(['DW_conv_h', 'DW_conv_v', 'DW_D_conv_h', 'DW_D_conv_v', 'pwconv']);
    expect(keys('h')).toEqual(['DW_conv_h', 'DW_D_conv_h', 'pwconv']);
    expect(keys('v')).toEqual(['DW_conv_v', 'DW_D_conv_v', 'pwconv']);
    expect(() => new LSKA(4, 13)).toThrow(/kernel_size 13/);
  });

  it('SDLSKA K=7 and K=11 use a 3x3 core and dilation-2 strips; other sizes are refused', () => {
    for (const [k, k1] of [[7, 3], [11, 5]]) {
      const m = new SDLSKA(8, k!);
      expect(m.DW_conv.dwconv.kernelSize).toEqual([3, 3]);
      expect(m.DW_D_conv_h.dwconv.kernelSize).toEqual([1, k1]);
      expect(m.DW_D_conv_v.dwconv.dilation).toEqual([2, 2]);
      expect(m.forward(tf.randomNormal([2, 5, 7, 8])).shape).toEqual([2, 5, 7, 8]);
    }
    expect(() => new SDLSKA(8, 41)).toThrow(/kernel_size 41/);
  });

  it('CKS: the kernel selection is one kernel at inference and equals the composite (batch 2, odd map, 6 channels)', async () => {
    const m = new CKS(6).initialize(3).eval();
    const [s, h, v] = [11, 12, 13].map((seed) => tf.randomNormal([2, 5, 7, 6], 0, 1, 'float32', seed));
    const run = (fused: boolean) => {
      setFusedInference(fused);
      const y = m.forward(s!, h!, v!);
      setFusedInference(true);
      return y;
    };
    const [f, c] = [run(true), run(false)];
    expect(tf.max(tf.abs(tf.sub(f, c))).dataSync()[0]).toBeLessThan(1e-6);
    expect(tf.max(tf.abs(c)).dataSync()[0]).toBeGreaterThan(1e-2);
    const info = await tf.profile(() => tf.dispose(m.forward(s!, h!, v!)));
    expect(info.kernels.filter((k) => k.name === KERNEL_SELECTION)).toHaveLength(1);
    expect(info.kernels.filter((k) => k.name === 'Sigmoid')).toHaveLength(0);
    tf.dispose([s!, h!, v!, f, c]);
    m.dispose();
  });
});

describe('BEVANet networks', () => {
  const tiny = { planes: 4, nBlocks: [2, 2, 2, 2, 2], ppmPlanes: 8, headPlanes: 8, numClasses: 5 };

  it('segmenter: stride-8 outputs on a 40x56 batch of 2; deploy form == main output of the aux form', async () => {
    const aux = new BEVANetSeg({ ...tiny, segAugment: true }).initialize(3);
    randomizeModule(aux, 4);
    aux.eval();
    const x = tf.randomNormal([2, 40, 56, 3], 0, 1, 'float32', 5);
    const out = aux.forwardOutputs(x);
    expect(out.main.shape).toEqual([2, 5, 7, 5]);
    expect(out.aux!.shape).toEqual([2, 5, 7, 5]);
    expect(out.boundary!.shape).toEqual([2, 5, 7, 1]);
    const deploy = new BEVANetSeg({ ...tiny, segAugment: false });
    const sd = await aux.stateDict();
    const { unexpected } = deploy.loadStateDict(sd, { strict: false });
    expect(unexpected.every((k) => /^seghead_(ds|db)\./.test(k))).toBe(true);
    expect(deploy.stateDictInfo().map((e) => e.key)).toEqual(aux.stateDictInfo().map((e) => e.key).filter((k) => !k.startsWith('seghead_')));
    deploy.eval();
    expect(maxAbsDiff((await deploy.forward(x).data()) as Float32Array, (await out.main.data()) as Float32Array)).toBe(0);
  });

  it('residual-only and LSKA configurations build and run (semantic kernels 0, detail kernels 0 / 7)', () => {
    for (const cfg of [
      { semanticKernels: [0, 0, 0], detailKernels: [0, 0] },
      { semanticKernels: [7, 11, 23], detailKernels: [7, 0], gating: 'LSKA' as const },
    ]) {
      const seg = new BEVANetSeg({ ...tiny, ...cfg, nBlocks: [2, 2, 2, 2, 2] }).eval();
      expect(seg.forward(tf.randomNormal([1, 64, 64, 3])).shape).toEqual([1, 8, 8, 5]);
      const cls = new BEVANetCls({ ...tiny, ...cfg, lastPlanes: 16 }).eval();
      expect(cls.forward(tf.randomNormal([2, 64, 96, 3])).shape).toEqual([2, 5]);
    }
    const keys = new BEVANetSeg({ ...tiny, semanticKernels: [0, 0, 0], detailKernels: [0, 0] }).namedChildren().map(([n]) => n);
    expect(keys).toContain('layer4_semantic');
    expect(keys).toContain('layer5_semantic_seg');
    expect(keys).not.toContain('layer4_detail_conv');
  });
});
