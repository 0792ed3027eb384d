import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { adaptInputConv, createModel, fromNumbers, loadForFinetune, saveWeights, toFloat32 } from '../../src/index.js';
import { SWIFTSHADER_ICD, runCli } from '../helpers/cli.js';

describe('fine-tuning starts', () => {
  it('adapts the first conv to new input channels as timm does', () => {
    // (O=1, I=3, 1x1) weights 1, 2, 3
    const w = fromNumbers('F32', [1, 3, 1, 1], [1, 2, 3]);
    expect(Array.from(toFloat32(adaptInputConv(w, 1)))).toEqual([6]);
    // 6 channels: tiled [1, 2, 3, 1, 2, 3] scaled by 3/6
    expect(Array.from(toFloat32(adaptInputConv(w, 6)))).toEqual([0.5, 1, 1.5, 0.5, 1, 1.5]);
  });

  it('resets the head for a new class count and keeps everything else', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vizoo-ft-'));
    const src = createModel('van_fmnist', { seed: 4 });
    const file = join(dir, 'src.safetensors');
    await saveWeights(src, file);
    const { model, reset } = loadForFinetune('van_fmnist', file, { numClasses: 3, inChans: 3, seed: 9 });
    expect(reset).toEqual(['head.weight', 'head.bias']);
    expect(model.numClasses).toBe(3);
    const a = await src.stateDict();
    const b = await model.stateDict();
    expect(Array.from(b.get('block2.0.mlp.fc1.weight')!.data as Float32Array)).toEqual(Array.from(a.get('block2.0.mlp.fc1.weight')!.data as Float32Array));
    expect(b.get('patch_embed1.proj.weight')!.shape).toEqual([32, 3, 7, 7]);
    // 1 -> 3 channels: the single input channel tiled and scaled by 1/3
    const w1 = a.get('patch_embed1.proj.weight')!.data as Float32Array;
    const w3 = b.get('patch_embed1.proj.weight')!.data as Float32Array;
    expect(w3[49 + 5]).toBeCloseTo(w1[5]! / 3, 6);
    expect(b.get('head.weight')!.shape).toEqual([3, 192]);
  });
});

describe('training on webgpu (SwiftShader)', () => {
  it('runs training steps on webgpu', async () => {
    const out = mkdtempSync(join(tmpdir(), 'vizoo-gpu-train-'));
    const r = await runCli(['train', '--model', 'van_fmnist', '--data', 'synthetic:shapes:16', '--epochs', '1', '--batch-size', '2', '--max-steps', '2', '--no-eval', '--out', out, '--backend', 'webgpu', '--json'], { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? SWIFTSHADER_ICD });
    expect(r.stderr.split('\n').filter((l) => l.startsWith('vizoo: error'))).toEqual([]);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { steps: number; last_loss: number };
    expect(s.steps).toBe(2);
    expect(Number.isFinite(s.last_loss)).toBe(true);
  });
});
