// Kernel mappings one by one (beyond what the registered models use): each small forward is exported and run
// in onnxruntime at several batch sizes against tfjs; plus the graph clean-up, batch-dependent constants and
// the errors for unmapped kernels.
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { tf, type Tensor } from '../../src/tf.js';
import { Module } from '../../src/nn/module.js';
import { Conv2d, GELU, Linear } from '../../src/nn/layers.js';
import { createModel } from '../../src/models/index.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { decodeModel } from '../../src/onnx/graph.js';
import { patternInput } from '../../src/onnx/trace.js';

class Fn extends Module {
  constructor(private readonly f: (x: Tensor) => Tensor) {
    super();
  }

  forward(x: Tensor): Tensor {
    return tf.tidy(() => this.f(x));
  }
}

const IN = [8, 8, 4]; // H, W, C

async function compare(m: Module & { forward(x: Tensor): Tensor }, opts: { dynamic?: boolean; batches?: number[] } = {}): Promise<number> {
  const dynamic = opts.dynamic ?? true;
  const batches = opts.batches ?? (dynamic ? [1, 2, 5] : [2]);
  const r = await exportOnnx(m, { inputSize: [IN[0]!, IN[1]!], inChans: IN[2], dynamicBatch: dynamic, batchSize: batches[0] });
  const s = await ort.InferenceSession.create(r.bytes, { logSeverityLevel: 3 });
  let worst = 0;
  for (const b of batches) {
    const x = patternInput(b * IN[0]! * IN[1]! * IN[2]!, 5 + b);
    const nchw = [b, IN[2]!, IN[0]!, IN[1]!];
    const out = await s.run({ input: new ort.Tensor('float32', x, nchw) });
    const y = out.output!;
    const ref = tf.tidy(() => {
      const o = m.forward(tf.transpose(tf.tensor(x, nchw), [0, 2, 3, 1]));
      return o.rank === 4 ? tf.transpose(o, [0, 3, 1, 2]) : o;
    });
    expect(y.dims.map(Number)).toEqual(ref.shape);
    const rd = (await ref.data()) as Float32Array;
    const yd = y.data as ArrayLike<number | bigint>;
    for (let i = 0; i < rd.length; i++) {
      const d = Math.abs(Number(yd[i]) - rd[i]!) / Math.max(1, Math.abs(rd[i]!));
      if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
    }
    ref.dispose();
  }
  await s.release();
  return worst;
}

const cases: [string, (x: Tensor) => Tensor, { dynamic?: boolean }?][] = [
  ['conv same stride 2 + pools', (x) => {
    const w = tf.tensor4d(patternInput(3 * 3 * 4 * 6, 2), [3, 3, 4, 6]);
    const y = tf.conv2d(x as tf.Tensor4D, w, 2, 'same');
    return tf.add(tf.avgPool(y, 3, 1, 'same'), tf.maxPool(y, 2, 1, 'same'));
  }],
  ['dilated depthwise valid + explicit pads', (x) => {
    const w = tf.tensor4d(patternInput(3 * 3 * 4 * 2, 3), [3, 3, 4, 2]);
    return tf.depthwiseConv2d(x as tf.Tensor4D, w, 1, [[0, 0], [2, 1], [1, 2], [0, 0]], 'NHWC', 2);
  }],
  ['conv2dTranspose', (x) => tf.conv2dTranspose(x as tf.Tensor4D, tf.tensor4d(patternInput(3 * 3 * 5 * 4, 4), [3, 3, 5, 4]), [x.shape[0]!, 16, 16, 5], 2, 'same')],
  ['fused conv + bias + prelu, fused matmul + relu', (x) => {
    const y = tf.fused.conv2d({ x: x as tf.Tensor4D, filter: tf.tensor4d(patternInput(1 * 1 * 4 * 4, 6), [1, 1, 4, 4]), strides: 1, pad: 'valid', bias: tf.tensor1d([0.1, -0.2, 0.3, 0]), activation: 'prelu', preluActivationWeights: tf.tensor1d([0.1, 0.2, 0.3, 0.4]) });
    const f = tf.reshape(y, [-1, 4]);
    // (not transposeB: tfjs-wasm 4.22 adds the bias of a fused matMul with transposeB along the wrong axis)
    const z = tf.fused.matMul({ a: f, b: tf.tensor2d(patternInput(12, 7), [4, 3]), bias: tf.tensor1d([0.5, -0.5, 0]), activation: 'relu' });
    return tf.reshape(z, [x.shape[0]!, 8, 8, 3]);
  }],
  ['batch matmul with transposes', (x) => {
    const t = tf.reshape(x, [x.shape[0]!, 64, 4]);
    const g = tf.matMul(t, t, true, false); // (B, 4, 4)
    return tf.add(tf.matMul(g, g), tf.matMul(g, tf.tensor2d(patternInput(16, 8), [4, 4]), false, true));
  }],
  ['resize bilinear (half-pixel, align corners, asymmetric) and nearest', (x) => {
    const a = tf.image.resizeBilinear(x as tf.Tensor4D, [13, 11], false, true);
    const b = tf.image.resizeBilinear(x as tf.Tensor4D, [13, 11], true);
    const c = tf.image.resizeBilinear(x as tf.Tensor4D, [13, 11], false, false);
    const d = tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [13, 11], false, true);
    const e = tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [16, 16]);
    const f = tf.image.resizeNearestNeighbor(x as tf.Tensor4D, [13, 11], true);
    return tf.concat([a, b, c, d, tf.slice(e, [0, 0, 0, 0], [-1, 13, 11, -1]), f], 3);
  }],
  ['strided slices with masks and negative strides', (x) => {
    const a = tf.stridedSlice(x, [0, 1, 7, 0], [0, 8, 0, 4], [1, 2, -2, 1], 0b1001, 0b1001);
    const b = tf.stridedSlice(x, [0, 0, 0, 1], [0, 0, 0, 3], [1, 1, 1, 1], 0b0111, 0b0111);
    return tf.add(tf.sum(a, [1, 2, 3]), tf.sum(b, [1, 2, 3]));
  }, { dynamic: false }],
  ['gather, gatherNd, one-hot, topk, cumsum, argmax', (x) => {
    const t = tf.reshape(x, [x.shape[0]!, 64, 4]);
    const g = tf.gather(t, tf.tensor1d([3, 1, 60, 7], 'int32'), 1);
    const s = tf.cumsum(g, 1, true, true);
    const k = tf.topk(tf.reshape(x, [x.shape[0]!, -1]), 5);
    const am = tf.cast(tf.argMax(tf.reshape(x, [x.shape[0]!, -1]), 1), 'float32');
    const oh = tf.oneHot(tf.tensor1d([0, 2, 3], 'int32'), 4);
    const nd = tf.gatherND(tf.reshape(x, [-1, 4]), tf.tensor2d([[0, 1], [3, 2]], [2, 2], 'int32'));
    const pieces = [tf.reshape(s, [x.shape[0]!, -1]), k.values, tf.cast(k.indices, 'float32'), tf.expandDims(am, 1)];
    return tf.add(tf.concat(pieces, 1), tf.add(tf.sum(oh), tf.sum(nd)));
  }],
  ['pads, tile, split, unstack/stack, reverse', (x) => {
    const p = tf.mirrorPad(x as tf.Tensor4D, [[0, 0], [1, 2], [2, 1], [0, 0]], 'reflect');
    const c = tf.pad(x, [[0, 0], [1, 2], [2, 1], [0, 0]], 0.5);
    const [a, b] = tf.split(tf.add(p, c), [5, 6], 1);
    const u = tf.unstack(a!, 3);
    const st = tf.stack(u.reverse(), 3);
    return tf.concat([tf.tile(st, [1, 2, 1, 1]), tf.reverse(b!, [1, 2])], 1);
  }],
  ['elementwise zoo', (x) => {
    const y = tf.addN([
      tf.leakyRelu(x, 0.1), tf.prelu(x, tf.fill([4], 0.25)), tf.elu(x), tf.selu(x), tf.softplus(x), tf.sigmoid(x), tf.log1p(tf.abs(x)), tf.expm1(x), tf.relu6(tf.mul(x, 9)),
      tf.floorDiv(x, tf.scalar(0.3)), tf.mod(x, tf.scalar(0.7)), tf.squaredDifference(x, tf.scalar(0.2)), tf.rsqrt(tf.add(tf.abs(x), 1)), tf.reciprocal(tf.add(tf.abs(x), 1)),
      tf.sign(x), tf.round(tf.mul(x, 3)), tf.neg(x), tf.clipByValue(x, -0.3, 0.4), tf.step(x, 0.1), tf.erf(x), tf.tanh(x), tf.sin(x), tf.cos(x), tf.atan(x), tf.square(x), tf.pow(tf.abs(x), 1.5),
      tf.where(tf.greater(x, 0.1), x, tf.mul(x, -2)), tf.cast(tf.logicalAnd(tf.less(x, 0.5), tf.notEqual(x, 0)), 'float32'), tf.maximum(x, 0.2), tf.minimum(x, -0.2),
    ]);
    return y;
  }],
  ['reductions, softmax, batch norm, depthToSpace', (x) => {
    const r = tf.add(tf.add(tf.max(x, [1, 2], true), tf.min(x, 3, true)), tf.add(tf.prod(tf.add(tf.mul(x, 0.1), 1), 2, true), tf.mean(x, [1, 2, 3], true)));
    const a = tf.cast(tf.any(tf.greater(x, 0.9), 3, true), 'float32');
    const bn = tf.batchNorm(x, tf.tensor1d([0.1, 0.2, 0.3, 0.4]), tf.tensor1d([1, 2, 3, 4]), tf.tensor1d([0, 1, 0, 1]), tf.tensor1d([1, 0.5, 2, 1]), 1e-3);
    const d = tf.depthToSpace(tf.concat([x, x, x, x], 3) as tf.Tensor4D, 2);
    return tf.add(tf.add(tf.add(r, a), tf.softmax(bn)), tf.sum(d));
  }],
  ['batch-dependent constants: zeros, ones, range(B) * stride offsets', (x) => {
    const b = x.shape[0]!;
    const flat = tf.reshape(x, [-1, 4]); // (B*64, 4)
    const off = tf.mul(tf.range(0, b, 1, 'int32'), tf.scalar(64, 'int32')); // row offset of each batch item
    const idx = tf.reshape(tf.add(tf.reshape(off, [b, 1]), tf.tensor2d([[5, 9, 63]], [1, 3], 'int32')), [-1]);
    const picked = tf.reshape(tf.gather(flat, idx), [b, 3, 4]);
    const z = tf.add(tf.ones([b, 3, 4]), tf.zeros([b, 1, 1]));
    return tf.add(picked, z);
  }],
];

describe('kernel mappings against onnxruntime (batches 1, 2, 5 from one dynamic-batch export)', () => {
  for (const [name, f, o] of cases) {
    it(name, async () => {
      expect(await compare(new Fn(f), o)).toBeLessThanOrEqual(1e-5);
    });
  }
});

describe('graph', () => {
  it('consecutive convs keep no transposes between them, and weights are initializers under their keys', async () => {
    class Two extends Module {
      readonly a = this.add('a', new Conv2d(4, 6, 3, { padding: 1 }));
      readonly b = this.add('b', new Conv2d(6, 6, 3, { padding: 1, groups: 6 }));
      forward(x: Tensor): Tensor {
        return this.b.forward(this.a.forward(x));
      }
    }
    const m = new Two().initialize(1).eval();
    const r = await exportOnnx(m, { inputSize: [8, 8], inChans: 4 });
    const g = decodeModel(r.bytes).graph!;
    // No transposes of activations (those of the biases, constants, fold away in the runtime).
    const constant = new Set(g.initializer!.map((t) => t.name!));
    for (const n of g.node!) if (n.input!.every((i) => !i || constant.has(i))) n.output!.forEach((o) => constant.add(o));
    expect(g.node!.filter((n) => n.opType === 'Transpose' && !constant.has(n.input![0]!))).toHaveLength(0);
    expect(g.node!.filter((n) => n.opType === 'Conv')).toHaveLength(2);
    const keyed = g.initializer!.filter((t) => !t.name!.startsWith('const_'));
    expect(keyed.map((t) => t.name).sort()).toEqual(['a.bias', 'a.weight', 'b.bias', 'b.weight']);
    // The initializers are the PyTorch-layout state dict, bit for bit.
    const sd = await m.stateDict();
    for (const t of keyed) {
      expect(t.dims!.map(Number)).toEqual(sd.get(t.name!)!.shape);
      expect(Array.from(new Float32Array(Uint8Array.from(t.rawData!).buffer))).toEqual(Array.from(sd.get(t.name!)!.data as Float32Array));
    }
    expect(await compare(m)).toBeLessThanOrEqual(1e-5);
  });

  it('a VAN exports as NCHW in the forms runtimes fuse: transposes only around channel LayerNorms, BatchNormalization, the erf GELU, BatchNorms and layer scales folded', async () => {
    const m = createModel('van_fmnist', { seed: 4 }).eval() as ReturnType<typeof createModel> & { stages: unknown[][] };
    const r = await exportOnnx(m, { dynamicBatch: true });
    const g = decodeModel(r.bytes).graph!;
    const producer = new Map(g.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
    const constant = new Set(g.initializer!.map((t) => t.name!));
    for (const n of g.node!) if (n.input!.every((i) => !i || constant.has(i))) n.output!.forEach((o) => constant.add(o));
    const count = (op: string) => g.node!.filter((n) => n.opType === op).length;
    const stages = m.stages.length;
    const blocks = m.stages.reduce((a, s) => a + s.length, 0);
    expect(count('LayerNormalization')).toBe(stages);
    // Each runtime transpose moves channels last for a LayerNormalization or back after one.
    for (const t of g.node!.filter((n) => n.opType === 'Transpose' && !constant.has(n.input![0]!))) {
      const users = g.node!.filter((n) => n.input!.includes(t.output![0]!));
      expect(producer.get(t.input![0]!)?.opType === 'LayerNormalization' || users.every((u) => u.opType === 'LayerNormalization')).toBe(true);
    }
    // norm1 and norm2 are folded into the 1x1 convs they feed (attn.proj_1, mlp.fc1); the layer scales into
    // attn.proj_2 and mlp.fc2; x + ls1 * (attention + norm1(x)) sums the scaled proj_2 with one batch norm of
    // x. Left: that batch norm per block (feeding the Add) and each patch embed's norm (after a conv: the
    // runtime's Conv+BatchNormalization fusion).
    expect(count('BatchNormalization')).toBe(blocks + stages);
    const usersOf = (name: string) => g.node!.filter((n) => n.input!.includes(name));
    const shortcuts = g.node!.filter((n) => n.opType === 'BatchNormalization' && usersOf(n.output![0]!).every((u) => u.opType === 'Add'));
    expect(shortcuts).toHaveLength(blocks);
    const scaledConv = (n: NonNullable<typeof g.node>[number]) => n.input!.some((i) => producer.get(i)?.opType === 'Conv') && n.input!.some((i) => constant.has(i));
    expect(g.node!.filter((n) => n.opType === 'Mul' && scaledConv(n))).toHaveLength(0);
    for (const erf of g.node!.filter((n) => n.opType === 'Erf')) expect(producer.get(erf.input![0]!)?.opType).toBe('Div');
    expect(count('Erf')).toBe(2 * blocks);
    const x = patternInput(2 * 28 * 28, 9);
    const s = await ort.InferenceSession.create(r.bytes, { logSeverityLevel: 3 });
    const y = (await s.run({ input: new ort.Tensor('float32', x, [2, 1, 28, 28]) })).output!.data as Float32Array;
    const ref = tf.tidy(() => m.forward(tf.tensor(x, [2, 28, 28, 1])) as Tensor);
    const rd = (await ref.data()) as Float32Array;
    rd.forEach((v, i) => expect(Math.abs(y[i]! - v)).toBeLessThan(1e-5 * Math.max(1, Math.abs(v))));
    ref.dispose();
    await s.release();
    const plain = await exportOnnx(m, { dynamicBatch: true, fuse: false });
    expect(decodeModel(plain.bytes).graph!.node!.filter((n) => n.opType === 'LayerNormalization')).toHaveLength(0);
  });

  it('a map MLP exports as the official permute + Linear where onnxruntime fuses bias + GELU, as a 1x1 Conv where a conv follows; GRN sums squares with a MatMul by ones', async () => {
    // conv -> fc1 -> GELU -> GRN -> fc2 (a UniRepLKNet / ConvNeXt-v2 MLP), then fc3 -> depthwise conv (a ConvFFN).
    class MapMlp extends Module {
      readonly conv = this.add('conv', new Conv2d(4, 8, 3, { padding: 1 }));
      readonly fc1 = this.add('fc1', new Linear(8, 16));
      readonly act = this.add('act', new GELU());
      readonly fc2 = this.add('fc2', new Linear(16, 8));
      readonly fc3 = this.add('fc3', new Linear(8, 8));
      readonly dw = this.add('dw', new Conv2d(8, 8, 3, { padding: 1, groups: 8 }));
      forward(x: Tensor): Tensor {
        return tf.tidy(() => {
          const y = this.conv.forward(x);
          const h = this.act.forward(this.fc1.forward(y));
          const gx = tf.sqrt(tf.sum(tf.mul(h, h), [1, 2], true));
          const grn = tf.mul(h, tf.add(tf.div(gx, tf.add(tf.mean(gx, -1, true), 1e-6)), 1));
          const z = tf.add(y, this.fc2.forward(grn));
          return this.dw.forward(this.fc3.forward(z));
        });
      }
    }
    const m = new MapMlp().initialize(3).eval();
    expect(await compare(m)).toBeLessThanOrEqual(1e-5);
    const g = decodeModel((await exportOnnx(m, { inputSize: [8, 8], inChans: 4, dynamicBatch: true })).bytes).graph!;
    const users = (name: string) => g.node!.filter((n) => n.input!.includes(name));
    const producer = new Map(g.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
    const constant = new Set(g.initializer!.map((t) => t.name!));
    for (const n of g.node!) if (n.input!.every((i) => !i || constant.has(i))) n.output!.forEach((o) => constant.add(o));
    const matmuls = g.node!.filter((n) => n.opType === 'MatMul' && !constant.has(n.input![0]!));
    // fc1 only: a channels-last MatMul, whose bias Add then feeds the erf GELU (BiasGelu in onnxruntime).
    expect(matmuls).toHaveLength(1);
    expect(producer.get(matmuls[0]!.input![0]!)?.opType).toBe('Transpose');
    const bias = users(matmuls[0]!.output![0]!);
    expect(bias.map((n) => n.opType)).toEqual(['Add']);
    expect(users(bias[0]!.output![0]!).some((n) => n.opType === 'Div' && users(n.output![0]!).some((e) => e.opType === 'Erf'))).toBe(true);
    // fc3 feeds the depthwise conv: a 1x1 Conv on the NCHW map. fc2 reads the channels-last GRN output: Gemm.
    const convs = g.node!.filter((n) => n.opType === 'Conv');
    const kernel = (n: (typeof convs)[number]) => n.attribute!.find((a) => a.name === 'kernel_shape')?.ints?.map(Number).join('x');
    expect(convs.map(kernel).sort()).toEqual(['1x1', '3x3', '3x3']);
    expect(g.node!.filter((n) => n.opType === 'Gemm')).toHaveLength(1);
    // GRN's sum over H and W of the NHWC map: no reduction (onnxruntime's are slow over non-innermost axes) but a
    // row of ones (1, H*W) times the squares viewed (N, H*W, C).
    expect(g.node!.filter((n) => n.opType!.startsWith('Reduce') && n.opType !== 'ReduceMean')).toHaveLength(0);
    const ones = g.node!.filter((n) => n.opType === 'MatMul' && producer.get(n.input![0]!)?.opType === 'ConstantOfShape');
    expect(ones).toHaveLength(1);
    const view = producer.get(ones[0]!.input![1]!)!;
    expect(view.opType).toBe('Reshape');
    const square = producer.get(view.input![0]!)!;
    expect([square.opType, square.input![0] === square.input![1]]).toEqual(['Mul', true]);
    const dims = g.initializer!.find((t) => t.name === view.input![1])!;
    expect(Array.from(new BigInt64Array(new Uint8Array(dims.rawData!).slice().buffer), Number)).toEqual([-1, 64, 16]);
  });

  it('sums of squares: ReduceL2 over innermost axes, a MatMul by a row of ones over middle ones (with or without keepdims)', async () => {
    // The exported graph is NCHW: the sum over W is innermost, the sums over C (batch before, H*W after) and
    // over H (batch and C before, W after) are middle ones.
    const m = new Fn((x) => {
      const sq = tf.mul(x, x);
      const overW = tf.sqrt(tf.sum(sq, 2, true)); // (B, 8, 1, 4)
      const overC = tf.sqrt(tf.sum(sq, 3, true)); // (B, 8, 8, 1)
      const overH = tf.reshape(tf.sum(sq, 1), [-1, 1, 8, 4]);
      return tf.add(tf.add(overW, overC), tf.mul(overH, 0.5));
    });
    expect(await compare(m)).toBeLessThanOrEqual(1e-5);
    const g = decodeModel((await exportOnnx(m, { inputSize: [8, 8], inChans: 4, dynamicBatch: true })).bytes).graph!;
    const producer = new Map(g.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
    expect(g.node!.filter((n) => n.opType === 'ReduceL2')).toHaveLength(1);
    expect(g.node!.filter((n) => n.opType === 'ReduceSum')).toHaveLength(0);
    expect(g.node!.filter((n) => n.opType === 'MatMul' && producer.get(n.input![0]!)?.opType === 'ConstantOfShape')).toHaveLength(2);
  });

  it('a kernel without a mapping is an error naming it; an op with a composite fallback exports', async () => {
    const FUSED = 'VizooTestFusedOp';
    tf.registerKernel({ kernelName: FUSED, backendName: 'wasm', kernelFunc: (({ inputs }: { inputs: Record<string, Tensor> }) => tf.engine().runKernel('Identity', { x: inputs.x! })) as unknown as tf.KernelFunc });
    // Calls the fused kernel unconditionally: not exportable.
    const always = new Fn((x) => tf.engine().runKernel(FUSED, { x }) as Tensor);
    await expect(exportOnnx(always, { inputSize: [8, 8], inChans: 4 })).rejects.toThrow(/no ONNX mapping for the tfjs kernel 'VizooTestFusedOp'/);
    // Uses the fused kernel where the backend has it, a composite otherwise: the trace backend has none.
    const fallback = new Fn((x) => (tf.getKernel(FUSED, tf.getBackend()) ? (tf.engine().runKernel(FUSED, { x }) as Tensor) : tf.mul(x, 1)));
    expect(await compare(fallback)).toBeLessThanOrEqual(1e-6);
    expect(tf.getBackend()).toBe('wasm');
  });

  it('shapes that change with the batch in a non-linear way refuse a dynamic batch, clearly', async () => {
    const odd = new Fn((x) => tf.add(x, tf.slice(tf.reshape(tf.tensor1d(Array.from({ length: x.shape[0]! ** 2 }, (_, i) => i)), [x.shape[0]!, x.shape[0]!, 1, 1]), [0, 0, 0, 0], [-1, 1, 1, 1])));
    await expect(exportOnnx(odd, { inputSize: [8, 8], inChans: 4, dynamicBatch: true })).rejects.toThrow(/batch/);
    expect(await compare(odd, { dynamic: false })).toBeLessThanOrEqual(1e-6);
  });
});
