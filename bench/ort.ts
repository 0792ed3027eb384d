/** onnxruntime helpers for the benchmarks: sessions, alternating timings, graph sizes. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type OrtDevice, createOrtSession, loadOrt } from '../src/index.js';
import { decodeModel } from '../src/onnx/graph.js';
import type { OrtSession, OrtTensor } from '../src/onnx/runtime.js';

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The pairs of alternating timings benchmarks take (VIZOO_BENCH_PAIRS, default 7). */
export const PAIRS = Number(process.env.VIZOO_BENCH_PAIRS ?? 7);

/** A CPU session with one intra-op thread (the comparisons' setting), or one on `device`. */
export function benchSession(model: string | Uint8Array, device: OrtDevice = 'cpu'): Promise<OrtSession> {
  return createOrtSession(model, device === 'cpu' ? { threads: 1 } : { device });
}

/** A deterministic NCHW float input. */
export async function benchInput(shape: number[]): Promise<OrtTensor> {
  const ort = await loadOrt();
  const n = shape.reduce((a, b) => a * b, 1);
  return new ort.Tensor('float32', Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37)), shape);
}

/** One timed run (ms) and its first output. */
export async function timeRun(s: OrtSession, x: OrtTensor): Promise<{ ms: number; out: Float32Array }> {
  const t0 = performance.now();
  const r = await s.run({ [s.inputNames[0]!]: x });
  const ms = performance.now() - t0;
  return { ms, out: r[s.outputNames[0]!]!.data as Float32Array };
}

export interface Alternation {
  /** Median of the per-pair ratios a/b. */
  ratio: number;
  aMs: number;
  bMs: number;
  pairs: number;
}

/** Times `a` and `b` in alternating pairs (order swapped every pair) after one warm-up each. */
export async function alternate(a: () => Promise<number>, b: () => Promise<number>, pairs = PAIRS): Promise<Alternation> {
  await a();
  await b();
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < pairs; i++) {
    if (i % 2 === 0) {
      ta.push(await a());
      tb.push(await b());
    } else {
      tb.push(await b());
      ta.push(await a());
    }
  }
  return { ratio: median(ta.map((t, i) => t / tb[i]!)), aMs: median(ta), bMs: median(tb), pairs };
}

/** Node count of an ONNX model as written. */
export function nodeCount(model: string | Uint8Array): number {
  return decodeModel(typeof model === 'string' ? readFileSync(model) : model).graph!.node!.length;
}

/** Node count after onnxruntime's CPU graph optimizations (fusions, NCHWc layouts, constant folding). */
export async function optimizedNodeCount(model: string | Uint8Array): Promise<number> {
  const ort = await loadOrt();
  const dir = mkdtempSync(join(tmpdir(), 'vizoo-bench-'));
  try {
    let path = model as string;
    if (typeof model !== 'string') writeFileSync((path = join(dir, 'model.onnx')), model);
    const out = join(dir, 'optimized.onnx');
    const s = await ort.InferenceSession.create(path, { logSeverityLevel: 3, graphOptimizationLevel: 'all', intraOpNumThreads: 1, optimizedModelFilePath: out });
    await s.release();
    return nodeCount(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
