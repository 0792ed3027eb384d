// vizoo convert / export / pull, forward --onnx, classify --onnx and --runtime ort (the built CLI).
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedPath, createModel, readSafetensors, weightSources, readTorchCheckpoint, saveWeights, toFloat32, writeSafetensors, writeTorchCheckpoint } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { PTH, ROOT } from '../paths.js';

const dir = mkdtempSync(join(tmpdir(), 'vizoo-cli-interop-'));
const SAMPLES = join(ROOT, 'assets', 'samples');
const env = { VIZOO_CACHE: join(dir, 'cache') };

describe('vizoo convert', () => {
  it('writes a wrapped .pth as stored (unwrapped) safetensors, and refuses the malicious pickle', async () => {
    const out = join(dir, 'wrapped.safetensors');
    const r = await runCli(['convert', join(PTH, 'van_tiny_wrapped_module_prefix.pth'), out, '--json'], env);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).tensors).toBe(178);
    const back = readSafetensors(out).tensors;
    expect([...back.keys()]).toEqual([...readTorchCheckpoint(join(PTH, 'van_tiny_state_dict.pth')).keys()]);
    const bad = await runCli(['convert', join(PTH, 'malicious_os_system.pth'), join(dir, 'bad.safetensors')], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/refusing to load: the pickle references the global "posix\.system"/);
    expect(existsSync(join(dir, 'bad.safetensors'))).toBe(false);
  });

  it('--model maps to the model keys (prefixes stripped, head size from the checkpoint) and names missing keys', async () => {
    const m = createModel('van_fmnist', { seed: 2, numClasses: 4 });
    const sd = await m.stateDict();
    const ddp = join(dir, 'ddp.pth');
    // BEVANet-style FullModel checkpoint: every key under 'model.' (a DDP 'module.' is unwrapped by the reader itself).
    writeTorchCheckpoint(ddp, { state_dict: new Map([...sd].map(([k, t]) => [`model.${k}`, t])), epoch: 3 });
    const out = join(dir, 'mapped.pth');
    const r = await runCli(['convert', ddp, out, '--model', 'van_fmnist', '--json'], env);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.strippedPrefixes).toEqual(['model.']);
    const back = readTorchCheckpoint(out);
    expect([...back.keys()]).toEqual([...sd.keys()]);
    expect(Array.from(toFloat32(back.get('head.weight')!))).toEqual(Array.from(toFloat32(sd.get('head.weight')!)));
    const partial = join(dir, 'partial.safetensors');
    writeSafetensors(partial, new Map([...sd].filter(([k]) => !k.startsWith('block4.'))));
    const miss = await runCli(['convert', partial, join(dir, 'x.safetensors'), '--model', 'van_fmnist'], env);
    expect(miss.code).toBe(1);
    expect(miss.stderr).toMatch(/missing keys \(\d+\): block4\.0\./);
  });
});

describe('vizoo export, forward --onnx, classify --onnx / --runtime ort', () => {
  it('exports ONNX and a Triton repository; onnxruntime and tfjs agree on forward and classify', async () => {
    const m = createModel('van_fmnist', { seed: 3 });
    const w = join(dir, 'fmnist.safetensors');
    await saveWeights(m, w);
    const onnx = join(dir, 'fmnist.onnx');
    const e = await runCli(['export', '-m', 'van_fmnist', '-w', w, '-o', onnx, '--json'], env);
    expect(e.code).toBe(0);
    expect(JSON.parse(e.stdout).input).toEqual({ name: 'input', shape: [-1, 1, 28, 28] });
    const t = await runCli(['export', '-m', 'van_fmnist', '-w', w, '--format', 'triton', '-o', join(dir, 'repo')], env);
    expect(t.code).toBe(0);
    expect(readFileSync(join(dir, 'repo', 'van_fmnist', 'config.pbtxt'), 'utf8')).toContain('dynamic_batching');
    expect(existsSync(join(dir, 'repo', 'van_fmnist', '1', 'model.onnx'))).toBe(true);
    expect(readFileSync(join(dir, 'repo', 'van_fmnist', 'config.pbtxt'), 'utf8')).toContain('label_filename: "labels.txt"');
    expect(readFileSync(join(dir, 'repo', 'van_fmnist', 'labels.txt'), 'utf8').split('\n')[9]).toBe('Ankle boot');

    const input = join(dir, 'in.safetensors');
    writeSafetensors(input, { input: { dtype: 'F32', shape: [3, 1, 28, 28], data: Float32Array.from({ length: 3 * 784 }, (_, i) => Math.sin(i)) } });
    const a = await runCli(['forward', '--onnx', onnx, '-i', input, '-o', join(dir, 'a.safetensors')], env);
    const b = await runCli(['forward', '-w', w, '-i', input, '-o', join(dir, 'b.safetensors')], env);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    const ya = toFloat32(readSafetensors(join(dir, 'a.safetensors')).tensors.get('output')!);
    const yb = toFloat32(readSafetensors(join(dir, 'b.safetensors')).tensors.get('output')!);
    expect(ya.length).toBe(30);
    for (let i = 0; i < ya.length; i++) expect(Math.abs(ya[i]! - yb[i]!)).toBeLessThan(1e-4);

    const imgs = [join(SAMPLES, 'ankle_boot.png'), join(SAMPLES, 'trouser.png')];
    const c1 = await runCli(['classify', '-w', w, '--json', ...imgs], env);
    const c2 = await runCli(['classify', '--onnx', onnx, '--json', ...imgs], env);
    const c3 = await runCli(['classify', '-w', w, '--runtime', 'ort', '--json', ...imgs], env);
    for (const c of [c1, c2, c3]) expect(c.code, c.stderr).toBe(0);
    const top = (s: string) => (JSON.parse(s) as { predictions: { index: number; prob: number }[] }[]).map((r) => r.predictions.map((p) => [p.index, Number(p.prob.toFixed(4))]));
    expect(top(c2.stdout)).toEqual(top(c1.stdout));
    expect(top(c3.stdout)).toEqual(top(c1.stdout));
    expect(c3.stderr).toMatch(/exported van_fmnist to .*cache.*onnx/);
    const c4 = await runCli(['classify', '-w', w, '--runtime', 'ort', '--json', ...imgs], env);
    expect(c4.stderr).not.toMatch(/exported/);
  });
});

describe('vizoo pull', () => {
  it('lists the known sources; offline without a cached file is a clear error', async () => {
    const tags = await runCli(['pull', 'van_b0', '--tags'], env);
    expect(tags.code).toBe(0);
    expect(tags.stdout).toMatch(/van_b0\.default\tfile\thttps:\/\/huggingface\.co\/Visual-Attention-Network\/VAN-Tiny-original/);
    expect(tags.stdout).toMatch(/van_b0\.hf\t/);
    const off = await runCli(['pull', 'van_b0', '--offline'], env);
    expect(off.code).toBe(2);
    expect(off.stderr).toMatch(/not in the cache .* offline/);
    const unknown = await runCli(['pull', 'van_b0.nope'], env);
    expect(unknown.stderr).toMatch(/no weights tagged 'nope' \(tags: default, hf, tsinghua\)/);
  });

  it('what pull fetched is used by default: no --weights needed after `vizoo pull`', async () => {
    const args = ['classify', '--model', 'van_b0', join(SAMPLES, 'ankle_boot.png'), '--json'];
    const before = await runCli(args, env);
    expect(before.code).toBe(2);
    expect(before.stderr).toMatch(/van_b0 has no weights here: download the official ones with `vizoo pull van_b0` \(then they are used by default\)/);
    // What a finished `vizoo pull van_b0` leaves: the official checkpoint layout at the source's cache path.
    const source = weightSources('van_b0').default!;
    const cached = cachedPath(source.url!, { cacheRoot: env.VIZOO_CACHE, fileName: source.file });
    const m = createModel('van_b0', { seed: 7 });
    writeTorchCheckpoint(cached, { state_dict: await m.stateDict() });
    m.dispose();
    const after = await runCli(args, env);
    const explicit = await runCli([...args, '--weights', cached], env);
    expect(after.code, after.stderr).toBe(0);
    expect(after.stderr).toBe('');
    expect(after.stdout).toBe(explicit.stdout);
  });

  it('sources without a direct file (BEVANet and SOFT Google Drive pages) say where to get them, without a request', async () => {
    for (const [model, page] of [
      ['bevanet_seg', /drive\.google\.com\/file\/d\/1IxKY85Yx418Q8FmiI2tGj0-TrGahuUxe/],
      ['soft_tiny', /drive\.google\.com\/file\/d\//],
    ] as const) {
      const r = await runCli(['pull', model], env);
      expect(r.code, model).toBe(2);
      expect(r.stderr).toMatch(/no direct download; the official files are listed at/);
      expect(r.stderr).toMatch(page);
    }
  });
});
