/**
 * tfjs-wasm with 1 and 2 threads (VIZOO_WASM_THREADS; the count is fixed when the module starts, so each
 * runs in a child process): median forward time of van_b0 and unireplknet_a_deploy at batch 1, the
 * children interleaved (1, 2, 2, 1, ...), and the 2-thread / 1-thread ratio. The machine's cores are shared
 * by everything else running: the ratio is only as good as the machine is quiet.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createModel, tf, useBackend } from '../src/index.js';
import type { BenchModule } from './types.js';
import { median } from './ort.js';

const SELF = fileURLToPath(import.meta.url);
const MODELS = ['van_b0', 'unireplknet_a_deploy'];

/** In a child: the thread count the module runs and the median of 7 forwards after 2 warm-ups. */
async function child(name: string): Promise<void> {
  await useBackend('wasm');
  const wasm = (await import('@tensorflow/tfjs-backend-wasm')) as unknown as { getThreadsCount(): number };
  const model = createModel(name, { seed: 1 }).eval();
  const [, h, w] = model.pretrainedCfg.inputSize;
  const x = tf.randomNormal([1, h, w, 3], 0, 1, 'float32', 1);
  const times: number[] = [];
  let sum = 0;
  for (let i = 0; i < 9; i++) {
    const t0 = performance.now();
    const y = model.forward(x) as tf.Tensor;
    const data = await y.data();
    if (i >= 2) times.push(performance.now() - t0);
    if (i === 0) sum = Array.from(data as Float32Array).reduce((a, v) => a + Math.abs(v), 0);
    y.dispose();
  }
  process.stdout.write(`${JSON.stringify({ threads: wasm.getThreadsCount(), ms: median(times), sum })}\n`);
}

interface ChildResult {
  threads: number;
  ms: number;
  /** Sum of |output| of the first forward: the same numbers whatever the thread count (checked). */
  sum: number;
}

function runChild(name: string, threads: number): ChildResult {
  const r = spawnSync(process.execPath, [SELF, name], { encoding: 'utf8', env: { ...process.env, VIZOO_WASM_THREADS: String(threads) } });
  if (r.status !== 0) throw new Error(`wasm threads child (${threads} threads) failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

export const wasmThreads: BenchModule = {
  benchmarks: [],
  reports: [
    {
      name: 'wasm threads',
      run: async () => {
        const lines = ['tfjs-wasm forward at batch 1 with VIZOO_WASM_THREADS=1 and 2 (child processes, interleaved, medians)', '| model | threads asked -> run | 1 thread ms | 2 threads ms | 2 / 1 | outputs agree |', '|---|---|---:|---:|---:|---|'];
        for (const name of MODELS) {
          const one: number[] = [];
          const two: number[] = [];
          const ran = new Set<string>();
          const sums: number[] = [];
          for (const t of [1, 2, 2, 1, 1, 2]) {
            const r = runChild(name, t);
            ran.add(`${t}->${r.threads}`);
            sums.push(r.sum);
            (t === 1 ? one : two).push(r.ms);
          }
          lines.push(`| ${name} | ${[...ran].join(', ')} | ${median(one).toFixed(1)} | ${median(two).toFixed(1)} | ${(median(two) / median(one)).toFixed(2)} | ${sums.every((v) => Math.abs(v - sums[0]!) <= 1e-5 * Math.abs(sums[0]!)) ? 'yes' : `no (${sums.join(', ')})`} |`);
        }
        return lines;
      },
    },
  ],
};

if (process.argv[1] === SELF) {
  child(process.argv[2] ?? 'van_b0').then(
    () => process.exit(0),
    (e: unknown) => {
      process.stderr.write(`${(e as Error).stack}\n`);
      process.exit(1);
    },
  );
}
