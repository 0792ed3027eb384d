// Untrusted files end in a result or one FileError line, never a hang, a crash, an escape from the model
// folder or garbage: the seeds, the hand-made attacks of fuzz/attacks.ts, the saved reproducers of
// test/fuzz-corpus/, and a bounded seeded fuzz pass per format, all in fuzz workers with time and memory limits.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FuzzPool, ROOT, corpusFiles, fuzzSeeds, runFuzz } from '../../fuzz/harness.js';
import { ATTACKS } from '../../fuzz/attacks.js';
import { seedInputs } from '../../fuzz/mutate.js';
import { FORMATS } from '../../fuzz/seeds.js';
import { GOOD } from '../../fuzz/verdict.js';

/** Inputs per format in the CI pass (VIZOO_FUZZ_COUNT overrides); the long run is `npm run fuzz -- --count 10000`. */
const COUNT = Number(process.env.VIZOO_FUZZ_COUNT ?? 250);
/** Generous under CI load; the slowest inputs take well under a second on an idle core. */
const LIMITS = { timeMs: 20_000, memoryMb: 1024 };

let pool: FuzzPool;
beforeAll(() => {
  if (!existsSync(join(ROOT, 'dist', 'fuzz', 'worker.js'))) throw new Error('dist/fuzz/worker.js is missing: run npm run build (npm test does)');
  pool = new FuzzPool(LIMITS, 1);
});
afterAll(() => pool?.close());

describe('the harness', () => {
  const attack = (name: string) => ATTACKS.find((a) => a.name === name)!;

  it('reports an input past its time limit as a timeout and one past its memory limit as an oom, then goes on', async () => {
    const tight = new FuzzPool({ timeMs: 100, memoryMb: 16 }, 1);
    const big = attack('a 4000x4000 PNG in 40 kB (a decompression bomb under the limit)');
    const slow = attack('a list copied a million times');
    const small = attack('a well-formed file');
    try {
      expect((await tight.run(slow.format, slow.bytes)).outcome).toBe('timeout');
      expect((await tight.run(small.format, small.bytes)).outcome).toBe('ok');
    } finally {
      tight.close();
    }
    const r = await pool.run(big.format, big.bytes);
    expect(r.outcome).toBe('ok');
    const lean = new FuzzPool({ timeMs: LIMITS.timeMs, memoryMb: 16 }, 1);
    try {
      const o = await lean.run(big.format, big.bytes);
      expect(o.outcome, o.detail).toBe('oom');
      expect((await lean.run(small.format, small.bytes)).outcome).toBe('ok');
    } finally {
      lean.close();
    }
  });
});

describe('seeds', () => {
  it('every unmutated seed is read (the fuzz starts from valid files), except those meant to be refused', async () => {
    const seeds = await fuzzSeeds();
    for (const format of FORMATS) {
      for (const [i, bytes] of seedInputs(format, seeds).entries()) {
        const r = await pool.run(format, bytes);
        const refused = /posix\.system|SVG|PDF|not an image/.test(r.detail);
        expect(r.outcome, `${format} seed ${i}: ${r.detail}`).toBe(refused ? 'typed' : 'ok');
      }
    }
  });
});

describe('attacks', () => {
  for (const a of ATTACKS) {
    it(`${a.format}: ${a.name}`, async () => {
      const r = await pool.run(a.format, a.bytes);
      if (a.expect === 'ok') expect(r.outcome, r.detail).toBe('ok');
      else {
        expect(r.outcome, r.detail).toBe('typed');
        expect(r.detail).toMatch(a.expect);
      }
    });
  }
});

describe('saved reproducers (test/fuzz-corpus)', () => {
  const files = corpusFiles();
  it.runIf(files.length)(`all ${files.length} end in a result or a proper error`, async () => {
    for (const { format, path } of files) {
      const r = await pool.run(format, readFileSync(path));
      expect(GOOD, `${path}: ${r.outcome}: ${r.detail}`).toContain(r.outcome);
    }
  });
});

describe(`fuzz pass: ${COUNT} mutated inputs per format, seed 15`, () => {
  for (const format of FORMATS) {
    it(format, async () => {
      const r = await runFuzz({ format, count: COUNT, seed: 15 }, pool);
      const bad = r.findings.map((f) => `#${f.index} ${f.outcome}: ${f.detail} (reproduce: npm run fuzz -- --format ${format} --seed 15 --count ${f.index + 1})`);
      expect(bad).toEqual([]);
      // The pass must reach past the first checks: some inputs load, most fail with a proper error.
      expect(r.counts.ok).toBeGreaterThan(0);
      expect(r.counts.typed).toBeGreaterThan(COUNT / 4);
    });
  }
});
