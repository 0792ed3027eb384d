import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { createModel, readSafetensors, saveWeights } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { CLI, KEYS, PARITY, ROOT } from '../paths.js';

const dir = mkdtempSync(join(tmpdir(), 'vizoo-cli-'));
const img = (n: string) => join(dir, n);

beforeAll(async () => {
  const raw = Buffer.alloc(40 * 30 * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 37) % 251;
  const base = sharp(raw, { raw: { width: 40, height: 30, channels: 3 } });
  await base.clone().png().toFile(img('a.png'));
  await base.clone().jpeg().toFile(img('b.jpg'));
  await base.clone().webp().toFile(img('c.webp'));
  await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).greyscale().png().toFile(img('grey.png'));
  writeFileSync(img('notes.txt'), 'this is not an image\n');
  const jpeg = readFileSync(img('b.jpg'));
  writeFileSync(img('broken.jpg'), jpeg.subarray(0, Math.floor(jpeg.length / 2)));
});

describe('vizoo list / info', () => {
  it('npx vizoo runs the package bin directly (the build leaves it executable)', () => {
    // The README's quick start is `npx vizoo ...`: npx executes dist/cli/main.js itself, so it needs its exec bit.
    const r = spawnSync('npx', ['--no-install', 'vizoo', 'list', 'van_b0', '--json'], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, VIZOO_BACKEND: 'wasm' } });
    expect(r.stderr).not.toMatch(/Permission denied/);
    expect(JSON.parse(r.stdout)).toEqual(['van_b0']);
  });

  it('lists models by wildcard', async () => {
    const r = await runCli(['list', 'van_b?', '--json']);
    expect(JSON.parse(r.stdout)).toEqual(['van_b0', 'van_b1', 'van_b2', 'van_b3', 'van_b4', 'van_b5', 'van_b6']);
  });

  it('ends quietly when the reader of its output goes away (vizoo list | head)', () => {
    // `true` exits without reading, before vizoo's first write: every write meets a closed pipe.
    const r = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${CLI}" list | true`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('lists the ViT token mixers with their cost in tokens (--mixers)', async () => {
    const r = await runCli(['list', '--mixers']);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(['softmax', 'transnormer_norm', 'transnormer_diag', 'transnormer', 'based', 'lightning2']);
    expect(lines[0]).toMatch(/^softmax\s+O\(N\^2\)/);
    expect(lines[4]).toMatch(/^based\s+O\(N\)\s+.*causal/);
    const json = JSON.parse((await runCli(['list', '--mixers', '--json'])).stdout) as { name: string; reach: string }[];
    expect(json.find((m) => m.name === 'lightning2')!.reach).toBe('causal');
  });

  it('prints the official state dict with --json --state-dict', async () => {
    const r = await runCli(['info', 'van_b2', '--json', '--state-dict']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as { name: string; params: number; config: { inputSize: number[] }; state_dict: [string, number[]][] };
    const ref = JSON.parse(readFileSync(join(KEYS, 'van_b2.json'), 'utf8')) as { num_params: number; state_dict: [string, number[]][] };
    expect(info.name).toBe('van_b2');
    expect(info.params).toBe(ref.num_params);
    expect(info.config.inputSize).toEqual([3, 224, 224]);
    expect(info.state_dict).toEqual(ref.state_dict.map(([k, s]) => [k, s]));
  });

  it('suggests close names for an unknown model', async () => {
    const r = await runCli(['info', 'van_bO']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown model 'van_bO'; did you mean 'van_b0'/);
  });
});

describe('vizoo classify', () => {
  it('classifies PNG, JPEG, WebP and greyscale images (JSON)', async () => {
    const r = await runCli(['classify', img('a.png'), img('b.jpg'), img('c.webp'), img('grey.png'), '--model', 'van_b0', '--random-init', '--top', '3', '--json']);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout) as { file: string; predictions: { index: number; label: string; prob: number }[] }[];
    expect(res.map((x) => x.file)).toEqual([img('a.png'), img('b.jpg'), img('c.webp'), img('grey.png')]);
    for (const x of res) {
      expect(x.predictions).toHaveLength(3);
      expect(x.predictions[0]!.prob).toBeGreaterThanOrEqual(x.predictions[1]!.prob);
      expect(typeof x.predictions[0]!.label).toBe('string');
    }
    expect(r.stderr).toMatch(/no weights for van_b0: using the random initialization \(seed 0\); download the official ones with `vizoo pull van_b0`/);
  });

  it('reports each bad image in one line naming it, classifies the rest, and exits non-zero', async () => {
    const missing = img('missing.png');
    const r = await runCli(['classify', img('a.png'), missing, img('notes.txt'), img('broken.jpg'), img('b.jpg'), '--model', 'van_b0', '--random-init']);
    expect(r.code).toBe(1);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('vizoo: error:'));
    expect(errors).toHaveLength(3);
    expect(errors[0]).toContain(`${missing}: no such file`);
    expect(errors[1]).toContain(`${img('notes.txt')}: not an image`);
    expect(errors[2]).toContain(`${img('broken.jpg')}: cannot decode image`);
    expect(r.stdout).toContain(`${img('a.png')}:`);
    expect(r.stdout).toContain(`${img('b.jpg')}:`);
    expect(r.stderr).toContain('3 of 5 images failed');
  });

  it('refuses weights that do not fit the model, naming the file and the keys', async () => {
    const w = join(dir, 'ten_classes.safetensors');
    await saveWeights(createModel('van_b0', { numClasses: 10 }), w);
    const r = await runCli(['classify', img('a.png'), '--model', 'van_b0', '--weights', w, '--num-classes', '1000']);
    expect(r.code).toBe(2);
    const line = r.stderr.split('\n').find((l) => l.startsWith('vizoo: error:'))!;
    expect(line).toContain(`${w}: the weights do not fit van_b0`);
    expect(r.stderr).toContain('2 shape mismatches (head.weight: file [10, 256], model [1000, 256], ...)');
    // Without --model / --num-classes, the file's metadata names the model and its 10 classes.
    const ok = await runCli(['classify', img('a.png'), '--weights', w, '--json']);
    expect(ok.code).toBe(0);
    expect(ok.stderr).not.toContain('random initialization');
    expect((JSON.parse(ok.stdout) as { predictions: { index: number }[] }[])[0]!.predictions.every((p) => p.index < 10)).toBe(true);
  });
});

describe('vizoo forward / parity', () => {
  it('forward reads NCHW and writes logits', async () => {
    const fx = join(PARITY, 'large_kernel', 'van_tiny.safetensors');
    const out = join(dir, 'out.safetensors');
    const r = await runCli(['forward', '--model', 'van_b0', '--input', fx, '--input-key', '__input__', '--output', out, '--num-classes', '7']);
    expect(r.code).toBe(0);
    expect(readSafetensors(out).tensors.get('output')!.shape).toEqual([1, 7]);
  });

  it('parity prints a summary line, dumps outputs, and fails on an empty selection', async () => {
    const dump = join(dir, 'dump');
    const r = await runCli(['parity', join(PARITY, 'large_kernel'), '--cases', 'van_lka,van_mlp', '--dump', dump]);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').at(-1)).toBe('parity: 2/2 cases within tolerance');
    expect(existsSync(join(dump, 'van_lka.safetensors'))).toBe(true);
    expect(readSafetensors(join(dump, 'van_lka.safetensors')).tensors.get('__output__')!.shape).toEqual([1, 8, 20, 20]);
    const none = await runCli(['parity', join(PARITY, 'large_kernel'), '--cases', 'nothing_*']);
    expect(none.code).toBe(1);
  });

  it('parity reports classes vizoo does not implement yet and exits non-zero', async () => {
    const fake = mkdtempSync(join(tmpdir(), 'vizoo-fake-'));
    writeFileSync(
      join(fake, 'manifest.json'),
      JSON.stringify({ cases: [{ case: 'x', file: 'x.safetensors', kind: 'module', class: 'Nope', architecture: 'Imaginary', kwargs: {}, inputs: [], outputs: [], tolerance_max_abs: 1 }] }),
    );
    const r = await runCli(['parity', fake]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('Imaginary.Nope is not implemented in vizoo yet');
    expect(r.stdout).toContain('parity: 0/1 cases within tolerance');
  });
});
