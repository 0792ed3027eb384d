// The weights shipped in weights/: trained by vizoo's own trainer on Fashion-MNIST (see weights/README.md).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { getModelEntry, readSafetensors } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { ROOT } from '../paths.js';

const WEIGHTS = join(ROOT, 'weights', 'van_fmnist.safetensors');

describe('shipped Fashion-MNIST weights', () => {
  it('exist, name their model and config, and match the sha256 of the registry and the model card', () => {
    expect(existsSync(WEIGHTS)).toBe(true);
    const meta = readSafetensors(WEIGHTS).metadata;
    expect(meta.vizoo_model).toBe('van_fmnist');
    expect(JSON.parse(meta.vizoo_config!)).toMatchObject({ numClasses: 10, inputSize: [1, 28, 28], labels: 'fashion-mnist' });
    const sha = createHash('sha256').update(readFileSync(WEIGHTS)).digest('hex');
    expect(getModelEntry('van_fmnist').pretrainedCfg.sha256).toBe(sha);
    expect(readFileSync(join(ROOT, 'weights', 'README.md'), 'utf8')).toContain(sha);
  });

  it('reach at least 90% top-1 on the Fashion-MNIST test set (vizoo eval, no --model)', async () => {
    const r = await runCli(['eval', '--weights', WEIGHTS, '--data', 'fashion-mnist', '--split', 'test', '--json', '--batch-size', '250']);
    expect(r.code).toBe(0);
    const m = JSON.parse(r.stdout) as { model: string; samples: number; top1: number; perClass: unknown[] };
    expect(m.model).toBe('van_fmnist');
    expect(m.samples).toBe(10000);
    expect(m.top1).toBeGreaterThanOrEqual(0.9);
    expect(m.perClass).toHaveLength(10);
  });

  it('the README quick start classifies the shipped samples with sensible labels', async () => {
    const r = await runCli(['classify', 'assets/samples/ankle_boot.png', 'assets/samples/trouser.png', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toContain('random initialization');
    const res = JSON.parse(r.stdout) as { predictions: { label: string }[] }[];
    expect(res.map((x) => x.predictions[0]!.label)).toEqual(['Ankle boot', 'Trouser']);
  });

  it('the fine-tuning example adapts them to a new task in one epoch, well above chance', async () => {
    const { spawnSync } = await import('node:child_process');
    const p = spawnSync(process.execPath, [join(ROOT, 'dist', 'examples', 'finetune.js')], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, VIZOO_BACKEND: 'wasm' } });
    expect(p.status).toBe(0);
    const out = JSON.parse(p.stdout.trim().split('\n').at(-1)!) as { steps: number; top1: number };
    expect(out.steps).toBe(16);
    // 4 classes: chance is 0.25.
    expect(out.top1).toBeGreaterThan(0.6);
  });
});
