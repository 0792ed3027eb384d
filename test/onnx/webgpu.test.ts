// onnxruntime-node's bundled WebGPU execution provider (`device: 'webgpu'`) against its CPU provider, on the
// same vizoo export: classification (a registered model through --runtime ort's cache) and segmentation (the
// pipeline on an ONNX file). Without a GPU this runs on SwiftShader (slow: small
// inputs); it is skipped only when no Vulkan driver gives WebGPU an adapter.
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { BatchNorm2d, Conv2d, GELU, Module, OrtModel, type PretrainedConfig, classifyImages, createOrtSession, exportOnnxFile, loadModel, ortModelFor, segmentImages } from '../../src/index.js';
import { resizeBilinear } from '../../src/nn/functional.js';
import { patternInput } from '../../src/onnx/trace.js';
import { ElemType, GraphBuilder } from '../../src/onnx/graph.js';
import { ROOT } from '../paths.js';
import { SWIFTSHADER_ICD } from '../helpers/cli.js';

if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;

const dir = mkdtempSync(join(tmpdir(), 'vizoo-ort-webgpu-'));
const SAMPLES = join(ROOT, 'assets', 'samples');

class TinySegmenter extends Module {
  readonly pretrainedCfg: PretrainedConfig = { inputSize: [3, 32, 48], cropPct: 1, interpolation: 'bilinear', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], numClasses: 4, task: 'segmentation' };
  readonly stem = this.add('stem', new Conv2d(3, 8, 3, { stride: 2, padding: 1 }));
  readonly bn = this.add('bn', new BatchNorm2d(8));
  readonly act = this.add('act', new GELU());
  readonly cls = this.add('cls', new Conv2d(8, 4, 1));

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => resizeBilinear(this.cls.forward(this.act.forward(this.bn.forward(this.stem.forward(x)))) as tf.Tensor4D, [x.shape[1]!, x.shape[2]!]));
  }
}

let available = false;
beforeAll(async () => {
  // A one-node graph finds out whether WebGPU has an adapter here.
  const g = new GraphBuilder();
  g.inputs = ['input'];
  g.outputs = ['output'];
  g.info.set('input', { dtype: ElemType.FLOAT, shape: [1, 4] });
  g.info.set('output', { dtype: ElemType.FLOAT, shape: [1, 4] });
  g.nodes.push({ op: 'Relu', inputs: ['input'], outputs: ['output'], attrs: {} });
  available = await createOrtSession(g.toModel({ opset: 17 }), { device: 'webgpu' }).then(
    async (s) => (await s.release(), true),
    (e: Error) => {
      if (!/no GPU adapter/.test(e.message)) throw e;
      return false;
    },
  );
});

describe('onnxruntime WebGPU provider', () => {
  it('classify: the same top-3 and probabilities as the CPU provider (van_fmnist, shipped weights)', async (ctx) => {
    if (!available) ctx.skip();
    const m = loadModel('van_fmnist');
    const cpu = await ortModelFor(m, { dir, device: 'cpu' });
    const gpu = await ortModelFor(m, { dir, device: 'webgpu' });
    expect(gpu.file).toBe(cpu.file);
    const files = ['ankle_boot.png', 'trouser.png'].map((f) => join(SAMPLES, f));
    const a = await classifyImages(cpu, files, { topK: 3 });
    const b = await classifyImages(gpu, files, { topK: 3 });
    a.forEach((r, i) => {
      const s = b[i]!;
      if ('error' in r || 'error' in s) throw new Error('unexpected error result');
      expect(s.predictions.map((p) => p.index)).toEqual(r.predictions.map((p) => p.index));
      s.predictions.forEach((p, j) => expect(Math.abs(p.prob - r.predictions[j]!.prob)).toBeLessThan(1e-4));
    });
    expect(a[0]!.file).toBe(files[0]);
    await Promise.all([cpu.dispose(), gpu.dispose()]);
    m.dispose();
  });

  it('segment: the CPU provider\'s logit map (within 1e-4) and class map, through vizoo segment\'s pipeline', async (ctx) => {
    if (!available) ctx.skip();
    // A small segmenter (conv, batch norm, GELU, 1x1 classifier, bilinear upsampling) keeps SwiftShader's
    // shader compilation short; the pipeline is the one every segmentation model takes.
    const m = new TinySegmenter().initialize(4).eval();
    const f = join(dir, 'segmenter.onnx');
    await exportOnnxFile(m, f, { dynamicBatch: true, metadata: { vizoo_config: JSON.stringify(m.pretrainedCfg) } });
    const [cpu, gpu] = [await OrtModel.open(f, { device: 'cpu' }), await OrtModel.open(f, { device: 'webgpu' })];
    const x = tf.tensor(patternInput(2 * 32 * 48 * 3, 5), [2, 32, 48, 3]);
    const [ya, yb] = [await cpu.forwardAsync(x), await gpu.forwardAsync(x)];
    expect(yb.shape).toEqual([2, 32, 48, 4]);
    const [da, db] = [(await ya.data()) as Float32Array, (await yb.data()) as Float32Array];
    let scale = 1;
    let diff = 0;
    for (let i = 0; i < da.length; i++) {
      scale = Math.max(scale, Math.abs(da[i]!));
      diff = Math.max(diff, Math.abs(da[i]! - db[i]!));
    }
    expect(diff / scale).toBeLessThan(1e-4);
    const file = join(SAMPLES, 'street_scene.png');
    const [sa, sb] = [await segmentImages(cpu, [file], { size: [32, 48] }), await segmentImages(gpu, [file], { size: [32, 48] })];
    if ('error' in sa[0]! || 'error' in sb[0]!) throw new Error('unexpected error result');
    expect(sb[0]!.classes.length).toBeGreaterThan(1);
    expect(sb[0]!.classes).toEqual(sa[0]!.classes);
    tf.dispose([x, ya, yb]);
    await Promise.all([cpu.dispose(), gpu.dispose()]);
  });

  it('an unknown device is refused in one line', async () => {
    await expect(createOrtSession(new Uint8Array(0), { device: 'cuda' as 'cpu' })).rejects.toThrow(/device 'cuda' is not one of cpu, webgpu/);
  });
});
