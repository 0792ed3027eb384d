import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BackendUnavailableError, readSafetensors, useBackend, writeSafetensors, fromNumbers, toFloat32 } from '../../src/index.js';
import { runParity } from '../../src/parity/runner.js';
import { PARITY } from '../paths.js';
import { SWIFTSHADER_ICD, runCli } from '../helpers/cli.js';
import { randn } from '../helpers/naive.js';

describe('backend selection', () => {
  it('names what to install when a backend is missing', async () => {
    await expect(useBackend('node-gpu')).rejects.toThrow(BackendUnavailableError);
    await expect(useBackend('node-gpu')).rejects.toThrow(/install @tensorflow\/tfjs-node-gpu/);
    await expect(useBackend('tpu')).rejects.toThrow(/unknown backend 'tpu'/);
    expect((await useBackend('wasm')).name).toBe('wasm');
  });

  it('cpu and wasm agree with the official VAN outputs', async () => {
    for (const b of ['cpu', 'wasm']) {
      await useBackend(b);
      const rs = await runParity(join(PARITY, 'large_kernel'), 'van_tiny,van_lka');
      expect(rs.map((r) => `${b}:${r.case}:${r.status}`)).toEqual([`${b}:van_lka:pass`, `${b}:van_tiny:pass`]);
    }
    await useBackend('wasm');
  });
});

describe('webgpu (SwiftShader in CI)', () => {
  const env = { VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? SWIFTSHADER_ICD };

  it('has the SwiftShader driver installed (Debian chromium; .ci/run installs it)', () => {
    expect(existsSync(env.VK_ICD_FILENAMES)).toBe(true);
  });

  it('VAN on webgpu equals VAN on wasm within 1e-4', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vizoo-gpu-'));
    const input = join(dir, 'in.safetensors');
    const x = randn([2, 3, 64, 64], 4);
    writeSafetensors(input, { input: fromNumbers('F32', x.shape, x.data) });
    const outs: Float32Array[] = [];
    for (const backend of ['wasm', 'webgpu']) {
      const out = join(dir, `${backend}.safetensors`);
      const r = await runCli(['forward', '--model', 'van_b0', '--seed', '5', '--input', input, '--output', out, '--backend', backend], env);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('vizoo: error'))).toEqual([]);
      expect(r.code).toBe(0);
      outs.push(toFloat32(readSafetensors(out).tensors.get('output')!));
    }
    const [a, b] = outs as [Float32Array, Float32Array];
    expect(a.length).toBe(2000);
    let maxAbs = 0;
    let maxDiff = 0;
    for (let i = 0; i < a.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(a[i]!));
      maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    }
    expect(maxDiff).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs));
  });

  it('passes the VAN parity cases on webgpu', async () => {
    const r = await runCli(['parity', join(PARITY, 'large_kernel'), '--cases', 'van_*', '--backend', 'webgpu', '--json'], env);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout) as { backend: string; passed: number; total: number };
    expect(j).toMatchObject({ backend: 'webgpu', passed: 8, total: 8 });
  });
});
