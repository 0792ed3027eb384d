// Foreign namings and checkpoint quirks: HF VAN / NAT / DiNAT ports, wrapper prefixes, nested EMA entries,
// train-form checkpoints given to deploy models (re-parameterized on load).
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { type HostTensor, type StateDict, toFloat32 } from '../../src/hub/host_tensor.js';
import { mapStateDict } from '../../src/hub/keymaps.js';
import { readSafetensors } from '../../src/hub/safetensors.js';
import { writeTorchCheckpoint } from '../../src/hub/pytorch_writer.js';
import { createModel, loadModel, loadWeights, saveWeights } from '../../src/index.js';
import { readManifest } from '../../src/parity/manifest.js';
import { findParityBuilder } from '../../src/parity/registry.js';
import '../../src/parity/builders/index.js';
import { KEYS, PARITY } from '../paths.js';

const dir = mkdtempSync(join(tmpdir(), 'vizoo-keymaps-'));
const LARGE = join(PARITY, 'large_kernel');
const vanTiny = () => new Map([...readSafetensors(join(LARGE, 'van_tiny.safetensors')).tensors].filter(([k]) => !k.startsWith('__')));

function vanTinyModule() {
  const c = readManifest(LARGE).cases.find((x) => x.case === 'van_tiny')!;
  return findParityBuilder(c.architecture, c.class)!({ kwargs: c.kwargs ?? {}, forwardKwargs: {}, parityCase: c }).module!;
}

/** Official VAN key -> HF transformers key (docs/families/van.md#huggingface-transformers-names), written apart from src/. */
function toHfVan(k: string): string | null {
  let m = /^patch_embed(\d)\.proj\.(.*)$/.exec(k);
  if (m) return `van.encoder.stages.${+m[1]! - 1}.embeddings.convolution.${m[2]}`;
  if ((m = /^patch_embed(\d)\.norm\.(.*)$/.exec(k))) return `van.encoder.stages.${+m[1]! - 1}.embeddings.normalization.${m[2]}`;
  if ((m = /^norm(\d)\.(.*)$/.exec(k))) return `van.encoder.stages.${+m[1]! - 1}.normalization.${m[2]}`;
  if ((m = /^head\.(.*)$/.exec(k))) return `classifier.${m[1]}`;
  m = /^block(\d)\.(\d+)\.(.*)$/.exec(k);
  if (!m) return null;
  const pre = `van.encoder.stages.${+m[1]! - 1}.layers.${m[2]}.`;
  const table: [RegExp, string][] = [
    [/^layer_scale_1$/, 'attention_scaling.weight'],
    [/^layer_scale_2$/, 'mlp_scaling.weight'],
    [/^norm1\./, 'pre_normomalization.'],
    [/^norm2\./, 'post_normalization.'],
    [/^attn\.proj_1\./, 'attention.pre_projection.conv.'],
    [/^attn\.spatial_gating_unit\.conv0\./, 'attention.attention_layer.attention.depth_wise.'],
    [/^attn\.spatial_gating_unit\.conv_spatial\./, 'attention.attention_layer.attention.depth_wise_dilated.'],
    [/^attn\.spatial_gating_unit\.conv1\./, 'attention.attention_layer.attention.point_wise.'],
    [/^attn\.proj_2\./, 'attention.post_projection.'],
    [/^mlp\.fc1\./, 'mlp.in_dense.'],
    [/^mlp\.dwconv\.dwconv\./, 'mlp.depth_wise.'],
    [/^mlp\.fc2\./, 'mlp.out_dense.'],
  ];
  for (const [re, to] of table) if (re.test(m[3]!)) return pre + m[3]!.replace(re, to);
  return null;
}

function sameTensors(a: StateDict, b: StateDict): void {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  for (const [k, t] of a) {
    expect(b.get(k)!.shape).toEqual(t.shape);
    expect(Array.from(toFloat32(b.get(k)!))).toEqual(Array.from(toFloat32(t)));
  }
}

describe('key maps', () => {
  it('HF VAN (van.encoder.stages.*, with its unused final layernorm) maps to the official keys and reproduces the output', async () => {
    const official = vanTiny();
    const hf: StateDict = new Map();
    for (const [k, t] of official) hf.set(toHfVan(k) ?? `unmapped.${k}`, t);
    hf.set('van.layernorm.weight', { dtype: 'F32', shape: [32], data: new Float32Array(32) });
    hf.set('van.layernorm.bias', { dtype: 'F32', shape: [32], data: new Float32Array(32) });
    const module = vanTinyModule();
    const want = new Set(module.stateEntries().map(([k]) => k));
    const { sd, report } = mapStateDict(hf, want);
    expect(report.keyMap).toBe('hf-van');
    sameTensors(official, sd);
    // Through a real checkpoint file and the load path.
    const f = join(dir, 'hf_van.bin');
    writeTorchCheckpoint(f, hf);
    const r = loadWeights(module, f);
    expect(r.report.keyMap).toBe('hf-van');
  });

  it('HF NAT / DiNAT: query/key/value concatenate into qkv, layer_scale_parameters split into gamma1/gamma2', () => {
    // Official keys of one NAT-Base level (layer scale on) from the reference list, with distinct values.
    const ref = JSON.parse(readFileSync(join(KEYS, 'nat_base.json'), 'utf8')) as { state_dict: [string, number[], string][] };
    const official: StateDict = new Map();
    let seed = 1;
    for (const [k, shape] of ref.state_dict) {
      if (/^levels\.[123]\./.test(k) || /^levels\.0\.blocks\.[1-9]/.test(k)) continue;
      const n = shape.reduce((a, b) => a * b, 1);
      official.set(k, { dtype: 'F32', shape, data: Float32Array.from({ length: n }, (_, i) => ((i * 2654435761 + seed) % 1000) / 1000) });
      seed += 7;
    }
    for (const prefix of ['nat', 'dinat']) {
      const hf: StateDict = new Map();
      for (const [k, t] of official) {
        let m = /^levels\.(\d+)\.blocks\.(\d+)\.(.*)$/.exec(k);
        if (m) {
          const pre = `${prefix}.encoder.levels.${m[1]}.layers.${m[2]}.`;
          const rest = m[3]!;
          if (rest === 'gamma1' || rest === 'gamma2') continue;
          const qkv = /^attn\.qkv\.(weight|bias)$/.exec(rest);
          if (qkv) {
            const rows = t.shape[0]! / 3;
            const per = (t.data as Float32Array).length / 3;
            ['query', 'key', 'value'].forEach((name, i) =>
              hf.set(`${pre}attention.self.${name}.${qkv[1]}`, { dtype: 'F32', shape: [rows, ...t.shape.slice(1)], data: (t.data as Float32Array).slice(i * per, (i + 1) * per) }),
            );
            continue;
          }
          const map: Record<string, string> = { 'attn.rpb': 'attention.self.rpb' };
          let to = map[rest];
          if (!to) {
            to = rest
              .replace(/^norm1\./, 'layernorm_before.')
              .replace(/^norm2\./, 'layernorm_after.')
              .replace(/^attn\.proj\./, 'attention.output.dense.')
              .replace(/^mlp\.fc1\./, 'intermediate.dense.')
              .replace(/^mlp\.fc2\./, 'output.dense.');
          }
          hf.set(pre + to, t);
          if (rest === 'norm1.weight') {
            const g1 = official.get(k.replace('norm1.weight', 'gamma1'))!;
            const g2 = official.get(k.replace('norm1.weight', 'gamma2'))!;
            const both = new Float32Array(g1.data.length * 2);
            both.set(g1.data as Float32Array);
            both.set(g2.data as Float32Array, g1.data.length);
            hf.set(`${pre}layer_scale_parameters`, { dtype: 'F32', shape: [2, g1.shape[0]!], data: both });
          }
          continue;
        }
        if ((m = /^levels\.(\d+)\.downsample\.(.*)$/.exec(k))) hf.set(`${prefix}.encoder.levels.${m[1]}.downsample.${m[2]}`, t);
        else if ((m = /^patch_embed\.proj\.(.*)$/.exec(k))) hf.set(`${prefix}.embeddings.patch_embeddings.projection.${m[1]}`, t);
        else if ((m = /^patch_embed\.norm\.(.*)$/.exec(k))) hf.set(`${prefix}.embeddings.norm.${m[1]}`, t);
        else if ((m = /^norm\.(.*)$/.exec(k))) hf.set(`${prefix}.layernorm.${m[1]}`, t);
        else if ((m = /^head\.(.*)$/.exec(k))) hf.set(`classifier.${m[1]}`, t);
        else throw new Error(`test table misses ${k}`);
      }
      const { sd, report } = mapStateDict(hf, new Set(official.keys()));
      expect(report.keyMap).toBe('hf-nat');
      sameTensors(official, sd);
    }
  });

  it('ViG-H legacy names (ln_1, self_attention, top-level norm/head) and Linear2d weights stored as 1x1 convs', () => {
    const ref = JSON.parse(readFileSync(join(KEYS, 'vig_h_t.json'), 'utf8')) as { state_dict: [string, number[], string][] };
    const shapes = new Map(ref.state_dict.map(([k, s]) => [k, s] as [string, number[]]));
    const official: StateDict = new Map();
    for (const [k, shape] of ref.state_dict) {
      if (!/^(patch_embed|classifier|layers\.0\.blocks\.0\.)/.test(k)) continue;
      const n = shape.reduce((a, b) => a * b, 1);
      official.set(k, { dtype: 'F32', shape, data: Float32Array.from({ length: n }, (_, i) => i % 13) });
    }
    const legacy: StateDict = new Map();
    for (const [k, t] of official) {
      const name = k
        .replace(/^patch_embed\.0\./, 'patch_embed.proj.')
        .replace(/^patch_embed\.2\./, 'patch_embed.norm.')
        .replace(/^(layers\.\d+\.blocks\.\d+\.)norm\./, '$1ln_1.')
        .replace(/^(layers\.\d+\.blocks\.\d+\.)op\./, '$1self_attention.')
        .replace(/^classifier\./, '');
      // One Linear stored as a (out, in, 1, 1) conv kernel.
      legacy.set(name, k.endsWith('op.qkv_proj.weight') ? { ...t, shape: [...t.shape, 1, 1] } : t);
    }
    const { sd, report } = mapStateDict(legacy, new Set(shapes.keys()), 'auto', shapes);
    expect(report.keyMap).toBe('vig-legacy');
    sameTensors(official, sd);
  });

  it('wrapper prefixes (BEVANet FullModel model., DDP module., torch.compile _orig_mod.) are stripped; keys outside are reported', async () => {
    const official = vanTiny();
    const wrapped: StateDict = new Map();
    for (const [k, t] of official) wrapped.set(`model.module.${k}`, t);
    const extra: HostTensor = { dtype: 'F32', shape: [19], data: new Float32Array(19) };
    wrapped.set('sem_loss.criterion.weight', extra);
    const module = vanTinyModule();
    const { sd, report } = mapStateDict(wrapped, new Set(module.stateEntries().map(([k]) => k)));
    expect(report.strippedPrefixes).toEqual(['model.', 'module.']);
    expect(report.dropped).toEqual(['sem_loss.criterion.weight']);
    sameTensors(official, sd);
    const compiled: StateDict = new Map([...official].map(([k, t]) => [`_orig_mod.${k}`, t]));
    expect(mapStateDict(compiled, new Set(official.keys())).report.strippedPrefixes).toEqual(['_orig_mod.']);
  });

  it('EMA checkpoints: the state dict is found under model / state_dict, and --checkpoint-key picks model_ema', () => {
    const official = vanTiny();
    const ema: StateDict = new Map([...official].map(([k, t]) => [k, k.endsWith('num_batches_tracked') ? t : { ...t, data: Float32Array.from(toFloat32(t), (v) => v * 0.5) }]));
    const f = join(dir, 'ema.pth');
    writeTorchCheckpoint(f, { model: official, model_ema: ema, epoch: 7, arch: 'van' });
    const module = vanTinyModule();
    loadWeights(module, f);
    const plain = module.stateEntries().find(([k]) => k === 'head.weight')![1];
    expect(Array.from(tf.tidy(() => plain.value.dataSync()).slice(0, 3))).not.toEqual([]);
    const r = loadWeights(module, f, { checkpointKey: 'model_ema' });
    expect(r.missing).toEqual([]);
    const head = official.get('head.bias')!;
    const got = module.stateEntries().find(([k]) => k === 'head.bias')![1].value.dataSync();
    expect(Array.from(got)).toEqual(Array.from(toFloat32(head), (v) => Math.fround(v * 0.5)));
    expect(() => loadWeights(module, f, { checkpointKey: 'nope' })).toThrow(/top-level keys: model, model_ema, epoch, arch/);
  });

  it('a deploy-form UniRepLKNet given a train-form checkpoint is re-parameterized on load (same outputs)', async () => {
    const train = createModel('unireplknet_a', { numClasses: 5, seed: 4 });
    // Non-trivial BatchNorm statistics, so the fusion has something to fold.
    const sd = await train.stateDict();
    let s = 3;
    for (const [k, t] of sd) {
      if (/running_mean$/.test(k)) (t.data as Float32Array).forEach((_, i, a) => (a[i] = (((s = (s * 1103515245 + 12345) >>> 0) % 1000) / 1000 - 0.5) * 0.2));
      if (/running_var$/.test(k)) (t.data as Float32Array).forEach((_, i, a) => (a[i] = 0.5 + ((s = (s * 1103515245 + 12345) >>> 0) % 1000) / 1000));
    }
    train.loadStateDict(sd);
    train.eval();
    const f = join(dir, 'unireplknet_a_train.safetensors');
    await saveWeights(train, f);
    const deploy = loadModel('unireplknet_a_deploy', { weights: f, numClasses: 5 });
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 9);
    const a = await train.forward(x).data();
    const b = await deploy.forward(x).data();
    let worst = 0;
    let scale = 1e-6;
    for (let i = 0; i < a.length; i++) {
      worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      scale = Math.max(scale, Math.abs(a[i]!));
    }
    expect(worst / Math.max(1, scale)).toBeLessThan(1e-4);
    expect(deploy.stateEntries().some(([k]) => /\.bn\./.test(k) || /dilated/.test(k))).toBe(false);
    tf.dispose(x);
    train.dispose();
    deploy.dispose();
  });
});
