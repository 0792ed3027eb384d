import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { BatchNorm2d, Conv2d, Linear, Module, ModuleList, Sequential, StateDictError, GELU, dropPathSchedule } from '../../src/nn/index.js';
import type { StateDict } from '../../src/hub/host_tensor.js';
import { createModel } from '../../src/models/index.js';

class Tiny extends Module {
  readonly conv = this.add('conv', new Conv2d(3, 4, 3, { padding: 1 }));
  readonly dw = this.add('dw', new Conv2d(4, 4, 3, { padding: 1, groups: 4 }));
  readonly bn = this.add('bn', new BatchNorm2d(4));
  readonly seq = this.add('seq', new Sequential(new Linear(4, 5), new GELU(), new Linear(5, 2)));
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => this.seq.forward(tf.mean(this.bn.forward(this.dw.forward(this.conv.forward(x))), [1, 2])));
  }
}

describe('Module', () => {
  it('lists state dict keys in PyTorch order with PyTorch shapes', () => {
    const m = new Tiny();
    expect(m.stateDictInfo().map((e) => `${e.key}:${e.shape.join('x')}`)).toEqual([
      'conv.weight:4x3x3x3', 'conv.bias:4', 'dw.weight:4x1x3x3', 'dw.bias:4',
      'bn.weight:4', 'bn.bias:4', 'bn.running_mean:4', 'bn.running_var:4', 'bn.num_batches_tracked:',
      'seq.0.weight:5x4', 'seq.0.bias:5', 'seq.2.weight:2x5', 'seq.2.bias:2',
    ]);
    expect(m.numParams()).toBe(4 * 27 + 4 + 36 + 4 + 8 + 20 + 5 + 10 + 2);
  });

  it('converts layouts at the edges: stateDict -> loadStateDict round trip is exact and PyTorch-shaped', async () => {
    const a = new Tiny().initialize(1);
    const sd = await a.stateDict();
    expect(sd.get('conv.weight')!.shape).toEqual([4, 3, 3, 3]);
    expect(sd.get('bn.num_batches_tracked')!.dtype).toBe('I64');
    // conv.weight[o=1, i=2, kh=0, kw=1] lives at tfjs HWIO [0, 1, 2, 1]
    const torchVal = (sd.get('conv.weight')!.data as Float32Array)[((1 * 3 + 2) * 3 + 0) * 3 + 1];
    const hwio = (await a.conv.weight.value.array()) as number[][][][];
    expect(hwio[0]![1]![2]![1]).toBe(torchVal);
    const b = new Tiny();
    b.loadStateDict(sd);
    const x = tf.randomNormal([2, 6, 5, 3], 0, 1, 'float32', 3);
    a.eval();
    b.eval();
    expect(Array.from(await b.forward(x).data())).toEqual(Array.from(await a.forward(x).data()));
  });

  it('strict loading names every missing and unexpected key and every shape mismatch', async () => {
    const sd = await new Tiny().initialize(0).stateDict();
    sd.delete('dw.bias');
    sd.delete('seq.2.weight');
    sd.set('extra.weight', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    sd.set('conv.bias', { dtype: 'F32', shape: [5], data: new Float32Array(5) });
    const m = new Tiny();
    let err: unknown;
    try {
      m.loadStateDict(sd);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(StateDictError);
    const e = err as StateDictError;
    expect(e.missing).toEqual(['dw.bias', 'seq.2.weight']);
    expect(e.unexpected).toEqual(['extra.weight']);
    expect(e.mismatched).toEqual([{ key: 'conv.bias', expected: [4], got: [5] }]);
    expect(e.message).toContain('dw.bias');
    expect(e.message).toContain('extra.weight');
    expect(e.message).toContain('conv.bias');
  });

  it('non-strict loading reports but tolerates missing/unexpected keys; shape mismatches still fail', async () => {
    const sd: StateDict = await new Tiny().initialize(0).stateDict();
    sd.delete('seq.2.bias');
    sd.set('junk', { dtype: 'F32', shape: [1], data: new Float32Array(1) });
    const r = new Tiny().loadStateDict(sd, { strict: false });
    expect(r).toEqual({ missing: ['seq.2.bias'], unexpected: ['junk'] });
    sd.set('seq.0.bias', { dtype: 'F32', shape: [6], data: new Float32Array(6) });
    expect(() => new Tiny().loadStateDict(sd, { strict: false })).toThrow(/seq\.0\.bias: file \[6\], model \[5\]/);
  });

  it('initialization is deterministic per seed and per key', async () => {
    const w = async (seed: number) => Array.from((await new Tiny().initialize(seed).stateDict()).get('seq.0.weight')!.data as Float32Array);
    expect(await w(7)).toEqual(await w(7));
    expect(await w(7)).not.toEqual(await w(8));
  });

  it('train() uses batch statistics and updates running stats; eval() uses running stats', async () => {
    const bn = new BatchNorm2d(2);
    const x = tf.tensor4d([1, 10, 3, 20, 5, 30, 7, 40], [1, 2, 2, 2]);
    bn.train();
    const y = (await bn.forward(x).data()) as Float32Array;
    expect(Math.abs(y[0]! + y[2]! + y[4]! + y[6]!)).toBeLessThan(1e-5);
    expect(Array.from((await bn.runningMean.value.data()) as Float32Array)).toEqual([Math.fround(0.4), Math.fround(2.5)]);
    // unbiased variance of [1,3,5,7] = 6.6667 -> 0.9 * 1 + 0.1 * 6.6667
    expect(((await bn.runningVar.value.data()) as Float32Array)[0]).toBeCloseTo(1.5666667, 5);
    expect(((await bn.numBatchesTracked.value.data()) as Int32Array)[0]).toBe(1);
    bn.eval();
    const z = (await bn.forward(x).data()) as Float32Array;
    expect(z[0]).toBeCloseTo((1 - 0.4) / Math.sqrt(1.5666667 + 1e-5), 4);
  });

  it('a forward in a loop keeps tf.memory().numTensors flat (VAN)', () => {
    const model = createModel('van_b0', { numClasses: 3 }).eval();
    const x = tf.randomNormal([1, 64, 64, 3]);
    tf.dispose(model.forward(x));
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(model.forward(x));
    expect(tf.memory().numTensors).toBe(before);
    model.train();
    tf.dispose(model.forward(x));
    const beforeTrain = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) tf.dispose(model.forward(x));
    expect(tf.memory().numTensors).toBe(beforeTrain);
    model.dispose();
    x.dispose();
  });

  it('ModuleList numbers children and refuses duplicate names', () => {
    const l = new ModuleList([new Linear(2, 2), new Linear(2, 3)]);
    expect(l.stateDictInfo().map((e) => e.key)).toEqual(['0.weight', '0.bias', '1.weight', '1.bias']);
    class Dup extends Module {
      constructor() {
        super();
        this.add('a', new Linear(1, 1));
        this.add('a', new Linear(1, 1));
      }
    }
    expect(() => new Dup()).toThrow(/registered twice/);
  });
});

describe('dropPathSchedule', () => {
  it('rises linearly from 0 to the rate over all blocks, as torch.linspace', () => {
    const s = dropPathSchedule(5, 0.2);
    expect(s.length).toBe(5);
    s.forEach((r, i) => expect(r).toBeCloseTo(0.05 * i, 12));
    expect(dropPathSchedule(1, 0.5)).toEqual([0]);
  });
});
