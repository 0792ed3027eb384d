// `vizoo selftest`: the shipped subset of golden cases, its agreement with the repository's fixtures, and
// that a wrong result is reported as a failing family.
import { cpSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/index.js';
import { readManifest } from '../../src/parity/manifest.js';
import { runSelftest, selftestDir } from '../../src/parity/selftest.js';
import { runCli } from '../helpers/cli.js';
import { PARITY } from '../paths.js';

const FAMILIES = ['BEVANet', 'EET', 'KArAt', 'LITv2', 'NAT/DiNAT', 'SOFT', 'UniRepLKNet', 'VAN', 'ViG', 'ViG-H'];

describe('vizoo selftest', () => {
  it('ships byte-identical copies of repository fixtures, with their manifest entries', () => {
    const root = selftestDir();
    const families = new Set<string>();
    for (const folder of readdirSync(root, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name)) {
      const source = new Map(readManifest(join(PARITY, folder)).cases.map((c) => [c.case, c]));
      for (const c of readManifest(join(root, folder)).cases) {
        const { selftest_family: family, ...rest } = c;
        families.add(family as string);
        expect(rest).toEqual(source.get(c.case));
        expect(readFileSync(join(root, folder, c.file)).equals(readFileSync(join(PARITY, folder, c.file)))).toBe(true);
      }
    }
    expect([...families].sort()).toEqual(FAMILIES);
  });

  it('passes every family on wasm and prints one line per family', async () => {
    const r = await runCli(['selftest', '--backend', 'wasm']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const f of FAMILIES) expect(r.stdout).toMatch(new RegExp(`^  ${f.replace('/', '\\/')} +pass`, 'm'));
    expect(r.stdout).toMatch(/selftest: 10\/10 families pass on wasm/);
  });

  it('reports a family whose output differs from the official one as failing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vizoo-selftest-'));
    cpSync(join(selftestDir(), 'large_kernel'), join(dir, 'large_kernel'), { recursive: true });
    const file = join(dir, 'large_kernel', 'van_tiny.safetensors');
    const st = readSafetensors(file);
    const out = st.tensors.get('__output__')!;
    const shifted = Float32Array.from(out.data as Float32Array, (v) => v + 1e-2);
    st.tensors.set('__output__', { ...out, data: shifted });
    writeSafetensors(file, st.tensors, st.metadata);
    const families = await runSelftest({ dir, families: ['VAN', 'BEVANet'] });
    expect(families.map((f) => [f.family, f.passed, f.total])).toEqual([
      ['BEVANet', 2, 2],
      ['VAN', 0, 1],
    ]);
    expect(families[1]!.results[0]!.status).toBe('fail');
    expect(families[1]!.worstRatio).toBeGreaterThan(1);
  });

  it('refuses an unknown --family', async () => {
    const r = await runCli(['selftest', '--family', 'nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--family: no shipped case belongs to 'nope'/);
  });
});
