// Threaded wasm in Node (VIZOO_WASM_THREADS): the thread count is fixed when the module starts, so each
// count runs in its own process; with 2 threads the pool really has 2 and a model's output is the same as
// with one (the kernels split work by rows, not by a reordered sum).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../paths.js';

const SCRIPT = `
import { createModel, tf, useBackend } from ${JSON.stringify(join(ROOT, 'dist', 'src', 'index.js'))};
await useBackend('wasm');
const wasm = await import('@tensorflow/tfjs-backend-wasm');
const model = createModel('van_fmnist', { seed: 1 }).eval();
const y = model.forward(tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 1));
process.stdout.write(JSON.stringify({ threads: wasm.getThreadsCount(), out: Array.from(await y.data()) }));
process.exit(0);
`;

function run(threads: number): { threads: number; out: number[] } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', SCRIPT], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, VIZOO_WASM_THREADS: String(threads) } });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { threads: number; out: number[] };
}

describe('threaded wasm in Node', () => {
  it('runs 2 threads when asked and gives the single-thread output', () => {
    const one = run(1);
    const two = run(2);
    expect(one.threads).toBe(1);
    expect(two.threads).toBe(2);
    expect(two.out.length).toBe(20);
    for (let i = 0; i < one.out.length; i++) expect(Math.abs(two.out[i]! - one.out[i]!)).toBeLessThan(1e-5);
  });
});
