// A fine-tuned model's weights say what they were trained for: every runtime prints their labels, not the
// base model's, and the file records its own dataset and provenance instead of the base model's notes.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { ROOT } from '../paths.js';

const dir = mkdtempSync(join(tmpdir(), 'vizoo-labels-'));
const run = join(dir, 'ft');
const weights = join(run, 'model.safetensors');
const SHAPES = ['circle', 'square', 'triangle', 'cross'];
const BOOT = join(ROOT, 'assets', 'samples', 'ankle_boot.png');

beforeAll(async () => {
  const r = await runCli(['finetune', '--weights', join(ROOT, 'weights', 'van_fmnist.safetensors'), '--num-classes', '4', '--data', 'synthetic:shapes:64', '--epochs', '1', '--batch-size', '16', '--no-eval', '--out', run]);
  expect(r.stderr).not.toMatch(/error/);
  expect(r.code).toBe(0);
}, 300_000);

describe('labels of fine-tuned weights', () => {
  it('are recorded with the dataset and provenance, without the base model notes', () => {
    const cfg = JSON.parse(readSafetensors(weights).metadata.vizoo_config!) as { labels: string[]; dataset: string; notes: string };
    expect(cfg.labels).toEqual(SHAPES);
    expect(cfg.dataset).toBe('synthetic:shapes:64');
    expect(cfg.notes).toMatch(/^fine-tuned by vizoo from .*van_fmnist\.safetensors on synthetic:shapes:64$/);
    expect(cfg.notes).not.toMatch(/Fashion-MNIST/);
  });

  it('are printed by classify on tfjs, on onnxruntime and from an exported ONNX file', async () => {
    const onnx = join(dir, 'ft.onnx');
    const e = await runCli(['export', '--weights', weights, '--out', onnx]);
    expect(e.code).toBe(0);
    for (const args of [['--weights', weights], ['--weights', weights, '--runtime', 'ort'], ['--onnx', onnx]]) {
      const r = await runCli(['classify', BOOT, '--json', ...args], { VIZOO_CACHE: join(dir, 'cache') });
      expect(r.stderr).not.toMatch(/error/);
      expect(r.code).toBe(0);
      const [res] = JSON.parse(r.stdout) as { predictions: { label: string }[] }[];
      expect(res!.predictions.map((p) => p.label).sort()).toEqual([...SHAPES].sort());
    }
  });
});
