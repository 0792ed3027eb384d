// Training runs as a user meets them: one run per folder, resumes that keep the run's schedule, a checkpoint
// at every stop, progress lines in logs, and no evaluation on the training images.
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'vizoo-runs-'));
const base = ['train', '--model', 'van_fmnist', '--data', 'synthetic:shapes:32', '--batch-size', '8', '--epochs', '3', '--log-interval', '1', '--no-eval'];
const steps = (out: string) => readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number }).filter((r) => r.type === 'step').map((r) => r.step);

describe('vizoo train output folders', () => {
  it('refuses a folder holding another run, and --overwrite starts it over', async () => {
    const out = join(dir, 'a');
    expect((await runCli([...base, '--max-steps', '2', '--out', out])).code).toBe(0);
    const again = await runCli([...base, '--max-steps', '2', '--out', out]);
    expect(again.code).toBe(2);
    expect(again.stderr.trim()).toBe(`vizoo: error: ${out} already holds a training run (checkpoint.json, checkpoints, log.jsonl, curves.png, model.safetensors): pass --resume to continue it, --overwrite to replace it, or another --out`);
    const over = await runCli([...base, '--max-steps', '1', '--out', out, '--overwrite']);
    expect(over.code).toBe(0);
    expect(steps(out)).toEqual([1]);
  });

  it('checkpoints a --max-steps stop, resumes from it saying where, and refuses a changed schedule', async () => {
    const out = join(dir, 'b');
    const first = await runCli([...base, '--max-steps', '3', '--out', out]);
    expect(first.code).toBe(0);
    // Not a terminal: plain step lines instead of a progress bar.
    expect(first.stderr).toMatch(/^step 1\/3 epoch 1\/3 loss \d+\.\d{4} lr [\d.e+-]+ [\d.]+ img\/s ETA \S+$/m);
    expect(first.stderr).not.toMatch(/ETA.*ETA/);
    expect(JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8')).step).toBe(3);
    const changed = await runCli([...base, '--epochs', '5', '--resume', '--out', out]);
    expect(changed.code).toBe(2);
    expect(changed.stderr.trim().split('\n')).toHaveLength(1);
    expect(changed.stderr).toMatch(/cannot resume with other options than the run's \(--epochs 3 -> 5\)/);
    const resumed = await runCli([...base, '--resume', '--out', out]);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toMatch(/^vizoo: resuming .* from step 3 of 12 \(epoch 1 of 3\)$/m);
    expect(steps(out)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('does not evaluate on the training images when a folder has no val/ split', async () => {
    const data = join(dir, 'folder');
    for (const [cls, v] of [['dark', 30], ['light', 220]] as const) {
      mkdirSync(join(data, cls), { recursive: true });
      for (let i = 0; i < 4; i++) await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: v, g: v + i, b: v } } }).png().toFile(join(data, cls, `${i}.png`));
    }
    const out = join(dir, 'c');
    const r = await runCli(['train', '--model', 'van_fmnist', '--data', data, '--batch-size', '4', '--epochs', '1', '--out', out]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`vizoo: warning: ${data} has no val/ or test/ folder: no evaluation after each epoch (pass --val-data, or add a val/ folder)`);
    expect(r.stderr).not.toMatch(/val top-1/);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
  });
});
