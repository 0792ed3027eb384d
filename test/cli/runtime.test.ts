// Inference commands run in onnxruntime by default when it is installed (--runtime auto), with the tfjs
// results; fixed-batch ONNX graphs take any number of images; --device belongs to onnxruntime.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { ROOT } from '../paths.js';

const dir = mkdtempSync(join(tmpdir(), 'vizoo-runtime-'));
const env = { VIZOO_CACHE: join(dir, 'cache'), VIZOO_RUNTIME: 'auto' };
const BOOT = join(ROOT, 'assets', 'samples', 'ankle_boot.png');
const TROUSER = join(ROOT, 'assets', 'samples', 'trouser.png');

type Classified = { file: string; predictions: { index: number; label: string; prob: number }[] }[];

describe('--runtime auto', () => {
  it('classifies in onnxruntime by default, as tfjs does', async () => {
    const auto = await runCli(['classify', BOOT, TROUSER, '--json', '--top', '10'], env);
    expect(auto.code).toBe(0);
    expect(auto.stderr).toMatch(/exported van_fmnist to .* for onnxruntime/);
    const tfjs = await runCli(['classify', BOOT, TROUSER, '--json', '--top', '10', '--runtime', 'tfjs'], env);
    const a = JSON.parse(auto.stdout) as Classified;
    const t = JSON.parse(tfjs.stdout) as Classified;
    expect(a.map((r) => r.predictions[0]!.label)).toEqual(['Ankle boot', 'Trouser']);
    for (const [i, r] of a.entries()) {
      const want = new Map(t[i]!.predictions.map((p) => [p.index, p.prob]));
      for (const p of r.predictions) expect(Math.abs(p.prob - want.get(p.index)!)).toBeLessThan(1e-4);
    }
    // The export is cached: the second run says nothing about exporting.
    const again = await runCli(['classify', BOOT, '--json'], env);
    expect(again.stderr).toBe('');
  });

  it('runs forward in onnxruntime with the tfjs logits', async () => {
    const input = join(dir, 'x.safetensors');
    const x = Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => Math.sin(i * 0.1));
    writeSafetensors(input, { input: { dtype: 'F32', shape: [2, 1, 28, 28], data: x } });
    for (const runtime of ['auto', 'tfjs']) {
      const r = await runCli(['forward', '-i', input, '-o', join(dir, `${runtime}.safetensors`), '--runtime', runtime], env);
      expect(r.code).toBe(0);
    }
    const a = readSafetensors(join(dir, 'auto.safetensors')).tensors.get('output')!;
    const t = readSafetensors(join(dir, 'tfjs.safetensors')).tensors.get('output')!;
    expect(a.shape).toEqual([2, 10]);
    const ad = a.data as Float32Array;
    (t.data as Float32Array).forEach((v, i) => expect(Math.abs(v - ad[i]!)).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
  });

  it('runs a fixed-batch ONNX export on any number of images, in pieces', async () => {
    const onnx = join(dir, 'static.onnx');
    const e = await runCli(['export', '--out', onnx, '--static-batch', '--json'], env);
    expect(JSON.parse(e.stdout).input.shape).toEqual([1, 1, 28, 28]);
    const r = await runCli(['classify', '--onnx', onnx, BOOT, TROUSER, BOOT, '--json'], env);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as Classified).map((c) => c.predictions[0]!.label)).toEqual(['Ankle boot', 'Trouser', 'Ankle boot']);
  });

  it('says that --device belongs to onnxruntime', async () => {
    const r = await runCli(['classify', BOOT, '--runtime', 'tfjs', '--device', 'webgpu'], env);
    expect(r.code).toBe(2);
    expect(r.stderr.trim()).toBe('vizoo: error: --device webgpu runs in onnxruntime: drop --runtime tfjs (tfjs picks its device with --backend)');
    expect(readFileSync(BOOT).length).toBeGreaterThan(0);
  });
});
