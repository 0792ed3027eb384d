/**
 * tfjs-wasm settings fixed when the module starts, each side in a child process: 1 and 2 threads
 * (VIZOO_WASM_THREADS), and vizoo's SIMD kernels without and with relaxed SIMD's fused multiply-add
 * (VIZOO_WASM_RELAXED_SIMD, which Node 20 needs to turn V8's flag on). Per setting: the median forward time of
 * van_b0 and unireplknet_a_deploy at batch 1, the children interleaved (a, b, b, a, ...), and the b / a
 * ratio. The machine's cores are shared by everything else running: the ratio is only as good as the machine
 * is quiet.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createModel, tf, useBackend } from '../src/index.js';
import { relaxedSimdSupported } from '../src/kernels/simd/assembler.js';
import type { BenchModule, BenchReport } from './types.js';
import { median } from './ort.js';

const SELF = fileURLToPath(import.meta.url);
const MODELS = ['van_b0', 'unireplknet_a_deploy'];

/** In a child: what the module runs (threads, fused multiply-add) and the median of 7 forwards after 2 warm-ups. */
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
  const ran: ChildResult['ran'] = { threads: wasm.getThreadsCount(), fma: relaxedSimdSupported() };
  process.stdout.write(`${JSON.stringify({ ran, ms: median(times), sum })}\n`);
}

interface ChildResult {
  ran: { threads: number; fma: boolean };
  ms: number;
  /** Sum of |output| of the first forward: the same numbers (within rounding) whatever the setting (checked). */
  sum: number;
}

function runChild(name: string, env: Record<string, string>): ChildResult {
  const r = spawnSync(process.execPath, [SELF, name], { encoding: 'utf8', env: { ...process.env, ...env } });
  if (r.status !== 0) throw new Error(`wasm settings child (${JSON.stringify(env)}) failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

/**
 * A report comparing the child's setting `a` with `b` (`describe` says what a child actually ran; outputs agree
 * when their sums are within `tolerance`, relative).
 */
function settingsReport(name: string, title: string, labels: [string, string], envs: [Record<string, string>, Record<string, string>], describe: (r: ChildResult) => string, tolerance: number): BenchReport {
  return {
    name,
    run: async () => {
      const lines = [title, `| model | ran | ${labels[0]} ms | ${labels[1]} ms | ${labels[1]} / ${labels[0]} | outputs agree |`, '|---|---|---:|---:|---:|---|'];
      for (const model of MODELS) {
        const times: [number[], number[]] = [[], []];
        const ran = new Set<string>();
        const sums: number[] = [];
        for (const side of [0, 1, 1, 0, 0, 1] as const) {
          const r = runChild(model, envs[side]);
          ran.add(describe(r));
          sums.push(r.sum);
          times[side].push(r.ms);
        }
        const [a, b] = times.map(median) as [number, number];
        const agree = sums.every((v) => Math.abs(v - sums[0]!) <= tolerance * Math.abs(sums[0]!));
        lines.push(`| ${model} | ${[...ran].join(', ')} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(b / a).toFixed(2)} | ${agree ? 'yes' : `no (${sums.join(', ')})`} |`);
      }
      return lines;
    },
  };
}

export const wasmThreads: BenchModule = {
  benchmarks: [],
  reports: [
    settingsReport('wasm threads', 'tfjs-wasm forward at batch 1 with VIZOO_WASM_THREADS=1 and 2 (child processes, interleaved, medians)', ['1 thread', '2 threads'], [{ VIZOO_WASM_THREADS: '1' }, { VIZOO_WASM_THREADS: '2' }], (r) => `${r.ran.threads} thread(s)`, 1e-5),
    settingsReport('wasm relaxed simd', 'tfjs-wasm forward at batch 1 without and with VIZOO_WASM_RELAXED_SIMD=1 (fused multiply-adds in the matmul, depthwise conv and GELU; child processes, interleaved, medians)', ['mul + add', 'fused'], [{ VIZOO_WASM_RELAXED_SIMD: '0' }, { VIZOO_WASM_RELAXED_SIMD: '1' }], (r) => (r.ran.fma ? 'fused' : 'mul + add'), 1e-4),
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
