import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createModel, fit, inputSpecFor, SyntheticShapes } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { CLI, ROOT } from '../paths.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'vizoo-fit-'));

describe('fit()', () => {
  it('lowers the loss, writes a JSONL log, a curves PNG, checkpoints and final weights', async () => {
    const out = tmp();
    const model = createModel('van_fmnist', { numClasses: 4, seed: 1 });
    const spec = inputSpecFor(model.pretrainedCfg);
    const losses: number[] = [];
    const r = await fit(model, new SyntheticShapes(128, 28, 0), {
      epochs: 3, batchSize: 16, spec, numClasses: 4, lr: 3e-3, outDir: out, logInterval: 1, augment: { scale: null, hflip: 0 },
      evalData: new SyntheticShapes(32, 28, 1), callbacks: { onStep: (s) => losses.push(s.loss) },
    });
    expect(r.steps).toBe(24);
    const first = losses.slice(0, 4).reduce((a, b) => a + b) / 4;
    const last = losses.slice(-4).reduce((a, b) => a + b) / 4;
    expect(last).toBeLessThan(first);
    const lines = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string });
    expect(lines.filter((l) => l.type === 'step')).toHaveLength(24);
    expect(lines.filter((l) => l.type === 'epoch')).toHaveLength(3);
    const png = await sharp(join(out, 'curves.png')).metadata();
    expect(png.format).toBe('png');
    expect(png.width).toBeGreaterThan(400);
    expect(existsSync(join(out, 'model.safetensors'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out, 'checkpoint.json'), 'utf8'))).toMatchObject({ step: 24, epoch: 3 });
  });
});

function spawnTrain(args: string[]): { done: Promise<number>; kill: () => void } {
  const p = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: 'ignore', env: { ...process.env, VIZOO_BACKEND: 'wasm' } });
  return { done: new Promise((r) => p.on('close', (code) => r(code ?? -1))), kill: () => p.kill('SIGKILL') };
}

describe('vizoo train --resume', () => {
  it('a run killed with SIGKILL and resumed ends with the same weights as an uninterrupted run', async () => {
    const args = ['train', '--model', 'van_fmnist', '--data', 'synthetic:shapes:96', '--epochs', '3', '--batch-size', '16', '--checkpoint-every', '4', '--seed', '5', '--drop-path', '0.1', '--mixup', '0.2', '--ema', '0.9', '--no-eval'];
    const a = tmp();
    const b = tmp();
    expect(await spawnTrain([...args, '--out', a]).done).toBe(0);
    const run = spawnTrain([...args, '--out', b]);
    let killed = false;
    const poll = setInterval(() => {
      if (!killed && existsSync(join(b, 'checkpoints', 'step-00000004'))) {
        killed = true;
        run.kill();
      }
    }, 20);
    const code = await run.done;
    clearInterval(poll);
    expect(killed).toBe(true);
    expect(code).not.toBe(0);
    expect(existsSync(join(b, 'model.safetensors'))).toBe(false);
    const resumed = await runCli([...args, '--out', b, '--resume']);
    expect(resumed.stderr.split('\n').filter((l) => l.startsWith('vizoo: error'))).toEqual([]);
    expect(resumed.code).toBe(0);
    const steps = (dir: string) => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; step: number; loss?: number }).filter((l) => l.type === 'step').map((l) => [l.step, l.loss]);
    expect(steps(b)).toEqual(steps(a));
    expect(readFileSync(join(b, 'model.safetensors')).equals(readFileSync(join(a, 'model.safetensors')))).toBe(true);
    expect(readFileSync(join(b, 'model_ema.safetensors')).equals(readFileSync(join(a, 'model_ema.safetensors')))).toBe(true);
  });
});

describe('vizoo train on a folder with a corrupt image', () => {
  it('finishes, skips the file with a warning naming it, and reports it', async () => {
    const root = tmp();
    for (const [ci, cls] of ['dark', 'light'].entries()) {
      mkdirSync(join(root, cls));
      for (let i = 0; i < 6; i++) {
        const v = ci === 0 ? 20 + i * 5 : 200 + i * 5;
        await sharp({ create: { width: 20, height: 20, channels: 3, background: { r: v, g: v, b: v } } }).png().toFile(join(root, cls, `${i}.png`));
      }
    }
    const bad = join(root, 'light', 'broken.jpg');
    writeFileSync(bad, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]));
    const out = tmp();
    const r = await runCli(['train', '--model', 'van_fmnist', '--data', root, '--epochs', '2', '--batch-size', '4', '--out', out, '--no-eval', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`vizoo: warning: skipped ${bad}:`);
    expect(r.stderr.split('\n').filter((l) => l.includes('warning: skipped'))).toHaveLength(1);
    expect(r.stderr).toContain(`skipped 1 corrupt sample(s): ${bad}`);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { skipped: string[]; steps: number };
    expect(summary.skipped).toContain(bad);
    expect(summary.steps).toBe(6);
  });
});
