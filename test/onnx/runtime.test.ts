// ONNX import (weights by initializer name), onnxruntime models in the pipelines, the export cache of
// --runtime ort, and Triton repositories.
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { tf } from '../../src/tf.js';
import {
  OrtModel, SyntheticShapes, classifyImages, createModel, evaluate, exportOnnx, exportOnnxFile, inputSpecFor, loadModel, loadWeights, ortCachePath, ortModelFor,
  readOnnxInitializers, saveWeights, writeTritonRepository,
} from '../../src/index.js';
import { GraphBuilder, Is, floatTensor, int64Tensor } from '../../src/onnx/graph.js';
import { atomicWriteFile } from '../../src/util/fs.js';
import { ROOT } from '../paths.js';

const dir = mkdtempSync(join(tmpdir(), 'vizoo-ort-'));
const SAMPLES = join(ROOT, 'assets', 'samples');
let prevCache: string | undefined;
beforeAll(() => {
  prevCache = process.env.VIZOO_CACHE;
  process.env.VIZOO_CACHE = join(dir, 'cache');
});
afterAll(() => {
  if (prevCache === undefined) delete process.env.VIZOO_CACHE;
  else process.env.VIZOO_CACHE = prevCache;
});

async function logits(m: { forward(x: tf.Tensor): tf.Tensor }, x: tf.Tensor): Promise<Float32Array> {
  const y = m.forward(x);
  const d = (await y.data()) as Float32Array;
  y.dispose();
  return d;
}

describe('ONNX import', () => {
  it("loads vizoo's own export back by initializer name (bit-exact weights)", async () => {
    const a = createModel('van_fmnist', { seed: 5 }).eval();
    const f = join(dir, 'van_fmnist.onnx');
    await exportOnnxFile(a, f, { dynamicBatch: true });
    const init = readOnnxInitializers(f);
    const sd = await a.stateDict();
    for (const [k, t] of sd) expect(Array.from(init.get(k)!.data as ArrayLike<unknown>)).toEqual(Array.from(t.data as ArrayLike<unknown>));
    const b = loadModel('van_fmnist', { weights: f, seed: 99 });
    const x = tf.randomUniform([2, 28, 28, 1], -1, 1, 'float32', 3);
    expect(Array.from(await logits(b, x))).toEqual(Array.from(await logits(a, x)));
    tf.dispose(x);
  });

  it('loads a torch.onnx-style file (initializers named by state-dict keys, no num_batches_tracked) and refuses one missing weights', async () => {
    const a = createModel('van_fmnist', { seed: 6 }).eval();
    const sd = await a.stateDict();
    const g = new GraphBuilder();
    for (const [k, t] of sd) if (!k.endsWith('num_batches_tracked')) g.initializer(k, { dtype: 1, dims: t.shape, raw: new Uint8Array((t.data as Float32Array).buffer.slice(0)) });
    g.initializer('onnx::Conv_999', floatTensor([1, 2], [2]));
    g.inputs = ['input'];
    g.info.set('input', { dtype: 1, shape: [1, 1, 28, 28] });
    g.nodes.push({ op: 'Transpose', inputs: ['input'], outputs: ['output'], attrs: { perm: Is([0, 2, 3, 1]) } });
    g.info.set('output', { dtype: 1, shape: [1, 28, 28, 1] });
    g.outputs = ['output'];
    const f = join(dir, 'torch_style.onnx');
    atomicWriteFile(f, g.toModel({ opset: 17 }));
    const b = createModel('van_fmnist', { init: false });
    loadWeights(b, f);
    b.initialize(0).eval();
    const x = tf.randomUniform([1, 28, 28, 1], -1, 1, 'float32', 4);
    expect(Array.from(await logits(b, x))).toEqual(Array.from(await logits(a, x)));
    const g2 = new GraphBuilder();
    g2.initializer('head.weight', floatTensor(new Float32Array(10 * 192), [10, 192]));
    g2.inputs = ['input'];
    g2.info.set('input', { dtype: 1, shape: [1] });
    g2.nodes.push({ op: 'Identity', inputs: ['input'], outputs: ['output'], attrs: {} });
    g2.info.set('output', { dtype: 1, shape: [1] });
    g2.outputs = ['output'];
    const f2 = join(dir, 'partial.onnx');
    atomicWriteFile(f2, g2.toModel({ opset: 17 }));
    expect(() => loadWeights(createModel('van_fmnist', { init: false }), f2)).toThrow(/keys missing/);
    void int64Tensor;
    tf.dispose(x);
  });
});

describe('onnxruntime models in the pipelines', () => {
  it('classify: an ONNX export in onnxruntime gives the tfjs predictions', async () => {
    const m = createModel('van_fmnist', { seed: 7 }).eval();
    const f = join(dir, 'cls.onnx');
    await exportOnnxFile(m, f, { dynamicBatch: true });
    const om = await OrtModel.open(f);
    expect(om.pretrainedCfg.inputSize).toEqual([1, 28, 28]);
    expect(om.numClasses).toBe(10);
    const files = [join(SAMPLES, 'ankle_boot.png'), join(SAMPLES, 'trouser.png'), join(SAMPLES, 'missing.png')];
    const a = await classifyImages(m, files, { topK: 3 });
    const b = await classifyImages(om, files, { topK: 3 });
    expect(b.map((r) => r.file)).toEqual(a.map((r) => r.file));
    a.forEach((r, i) => {
      const s = b[i]!;
      if ('error' in r) return expect('error' in s).toBe(true);
      if ('error' in s) throw new Error(s.error);
      expect(s.predictions.map((p) => p.index)).toEqual(r.predictions.map((p) => p.index));
      s.predictions.forEach((p, j) => expect(Math.abs(p.prob - r.predictions[j]!.prob)).toBeLessThan(1e-5));
    });
    await om.dispose();
  });

  it('--runtime ort: exports once per model + weights + options into the cache, then reuses it; eval agrees with tfjs', async () => {
    const m = createModel('van_fmnist', { seed: 8 }).eval();
    const w1 = join(dir, 'w1.safetensors');
    await saveWeights(m, w1);
    const loaded = loadModel('van_fmnist', { weights: w1 });
    const exported: string[] = [];
    const o1 = await ortModelFor(loaded, { weightsFile: w1, onExport: (p) => exported.push(p) });
    const o2 = await ortModelFor(loaded, { weightsFile: w1, onExport: (p) => exported.push(p) });
    expect(exported).toHaveLength(1);
    expect(o1.file).toBe(o2.file);
    expect(o1.file.startsWith(join(dir, 'cache', 'onnx'))).toBe(true);
    expect(existsSync(o1.file)).toBe(true);
    // Other weights, another size: other cache entries.
    const m2 = createModel('van_fmnist', { seed: 9 });
    const w2 = join(dir, 'w2.safetensors');
    await saveWeights(m2, w2);
    expect(ortCachePath(loaded, { weightsFile: w2 })).not.toBe(o1.file);
    expect(ortCachePath(loaded, { weightsFile: w1, inputSize: [32, 32] })).not.toBe(o1.file);
    // A model built for another input size (imgSize: its position grid) exported at the same size: another entry.
    const built32 = createModel('van_fmnist', { init: false, imgSize: [32, 32] });
    expect(ortCachePath(built32, { weightsFile: w1, inputSize: [28, 28] })).not.toBe(ortCachePath(loaded, { weightsFile: w1, inputSize: [28, 28] }));
    const ds = new SyntheticShapes(24, 28, 2);
    const spec = inputSpecFor(loaded.pretrainedCfg);
    const a = await evaluate(loaded, ds, { spec, numClasses: 10, batchSize: 8 });
    const b = await evaluate(o1, ds, { spec, numClasses: 10, batchSize: 8 });
    expect(b.task).toBe('classification');
    if (a.task === 'classification' && b.task === 'classification') {
      expect(b.top1).toBe(a.top1);
      expect(b.top5).toBe(a.top5);
    }
    await o1.dispose();
    await o2.dispose();
  });
});

describe('Triton', () => {
  it('writes config.pbtxt (names, dims, dynamic batching) and 1/model.onnx that takes any batch', async () => {
    const m = createModel('van_fmnist', { seed: 10 }).eval();
    const r = await exportOnnx(m, { dynamicBatch: true });
    const w = writeTritonRepository(join(dir, 'repo'), r, { name: 'fmnist', maxBatchSize: 16 });
    const cfg = readFileSync(w.config, 'utf8');
    expect(w.model).toBe(join(dir, 'repo', 'fmnist', '1', 'model.onnx'));
    expect(cfg).toContain('name: "fmnist"');
    expect(cfg).toContain('platform: "onnxruntime_onnx"');
    expect(cfg).toContain('max_batch_size: 16');
    expect(cfg).toMatch(/name: "input"\s+data_type: TYPE_FP32\s+format: FORMAT_NCHW\s+dims: \[ 1, 28, 28 \]/);
    expect(cfg).toMatch(/name: "output"\s+data_type: TYPE_FP32\s+dims: \[ 10 \]/);
    expect(cfg).toContain('dynamic_batching');
    const s = await ort.InferenceSession.create(w.model, { logSeverityLevel: 3 });
    const out = await s.run({ input: new ort.Tensor('float32', new Float32Array(3 * 28 * 28), [3, 1, 28, 28]) });
    expect(out.output!.dims.map(Number)).toEqual([3, 10]);
    await s.release();
    const fixed = await exportOnnx(m, {});
    expect(() => writeTritonRepository(join(dir, 'repo2'), fixed, { name: 'x' })).toThrow(/dynamic-batch/);
  });
});
