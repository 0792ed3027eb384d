/**
 * `vizoo selftest`: the golden cases shipped in the package (assets/selftest, a subset of the repository's
 * parity fixtures) run on the current backend and summarized per family, so a user can certify an install
 * (a WebGPU adapter, tfjs-node) against the official implementations.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../util/package_root.js';
import { readManifest } from './manifest.js';
import { type ParityResult, runParityCase } from './runner.js';

export interface SelftestFamily {
  family: string;
  passed: number;
  total: number;
  /** Largest diff / tolerance over the family's cases (Infinity when one did not run). */
  worstRatio: number;
  results: ParityResult[];
}

export function selftestDir(): string {
  return join(packageRoot(), 'assets', 'selftest');
}

export async function runSelftest(opts: { dir?: string; families?: string[]; onResult?: (family: string, r: ParityResult) => void } = {}): Promise<SelftestFamily[]> {
  const root = opts.dir ?? selftestDir();
  if (!existsSync(root)) throw new Error(`${root}: the self-test cases are missing from this installation`);
  const byFamily = new Map<string, SelftestFamily>();
  const wanted = opts.families?.map((f) => f.toLowerCase());
  for (const folder of readdirSync(root).sort()) {
    const dir = join(root, folder);
    if (!existsSync(join(dir, 'manifest.json'))) continue;
    for (const c of readManifest(dir).cases) {
      const family = typeof c.selftest_family === 'string' ? c.selftest_family : folder;
      if (wanted && !wanted.includes(family.toLowerCase())) continue;
      const r = await runParityCase(dir, c);
      opts.onResult?.(family, r);
      const f = byFamily.get(family) ?? { family, passed: 0, total: 0, worstRatio: 0, results: [] };
      f.total++;
      if (r.status === 'pass') f.passed++;
      f.worstRatio = Math.max(f.worstRatio, Number.isNaN(r.maxAbsDiff) ? Infinity : r.maxAbsDiff / r.tolerance);
      f.results.push(r);
      byFamily.set(family, f);
    }
  }
  return [...byFamily.values()].sort((a, b) => a.family.localeCompare(b.family));
}
