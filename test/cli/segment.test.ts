// `vizoo segment` end to end (built CLI): PNGs for good images, one-line errors naming bad files, exit 1.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { CLI, ROOT } from '../paths.js';

const run = promisify(execFile);

describe.skipIf(!existsSync(CLI))('vizoo segment', () => {
  it('writes mask and overlay PNGs for the sample image and reports the bad file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vizoo-seg-cli-'));
    try {
      const bad = join(dir, 'notes.txt');
      writeFileSync(bad, 'hello');
      const sample = join(ROOT, 'assets', 'samples', 'street_scene.png');
      const out = join(dir, 'out');
      const err = await run('node', [CLI, 'segment', sample, bad, '--json', '--out', out, '--backend', 'wasm', '--seed', '3', '--random-init']).then(
        () => null,
        (e: { code: number; stdout: string; stderr: string }) => e,
      );
      expect(err?.code).toBe(1);
      const results = JSON.parse(err!.stdout) as { file: string; mask?: string; overlay?: string; error?: string; classes?: { label: string; share: number }[] }[];
      expect(results.map((r) => r.file)).toEqual([sample, bad]);
      expect(results[1]!.error).toContain(bad);
      expect(err!.stderr).toContain(`vizoo: error: ${bad}: not an image`);
      expect(err!.stderr).toContain('1 of 2 images failed');
      for (const f of [results[0]!.mask!, results[0]!.overlay!]) {
        const meta = await sharp(f).metadata();
        expect([meta.format, meta.width, meta.height]).toEqual(['png', 512, 256]);
      }
      expect(results[0]!.classes!.reduce((a, c) => a + c.share, 0)).toBeCloseTo(1, 5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a classification model with a one-line error and exit code 2', async () => {
    const e = await run('node', [CLI, 'segment', join(ROOT, 'assets', 'samples', 'street_scene.png'), '-m', 'unireplknet_a', '--backend', 'wasm']).then(
      () => null,
      (x: { code: number; stderr: string }) => x,
    );
    expect(e?.code).toBe(2);
    expect(e!.stderr).toMatch(/vizoo: error: unireplknet_a is not a segmentation model/);
  });
});
