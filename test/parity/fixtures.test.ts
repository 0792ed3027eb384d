// Runs every shared parity case whose architecture vizoo implements; each must be within its tolerance.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest } from '../../src/parity/manifest.js';
import { findParityBuilder } from '../../src/parity/registry.js';
import { runParityCase } from '../../src/parity/runner.js';
import { PARITY } from '../paths.js';

const families = readdirSync(PARITY).filter((d) => existsSync(join(PARITY, d, 'manifest.json')));

it('finds the shared parity fixtures', () => {
  expect(families.length).toBeGreaterThan(0);
});

for (const family of families) {
  const dir = join(PARITY, family);
  const cases = readManifest(dir).cases.filter((c) => findParityBuilder(c.architecture, c.class, c.module));
  if (!cases.length) continue;
  describe(`parity ${family}`, () => {
    for (const c of cases) {
      it(c.case, async () => {
        const r = await runParityCase(dir, c);
        expect(r.message ?? '').toBe('');
        expect(r.status).toBe('pass');
        expect(r.maxAbsDiff).toBeLessThanOrEqual(c.tolerance_max_abs);
      });
    }
  });
}
