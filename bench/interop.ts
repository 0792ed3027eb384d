/**
 * Every family in onnxruntime and in tfjs: for the smallest canonical variant of each registered
 * architecture at its configured input size (VIZOO_BENCH_MODELS=a,b picks others), a table of the tfjs
 * kernels one forward runs with the single-kernel inference paths off (the composite ops) and on, the ONNX export's node count,
 * onnxruntime's time per image (CPU provider, one thread; `--runtime ort`'s dynamic-batch export) at
 * batch 1 and 8, tfjs's at batch 1 with the inference kernels off and on (each alternating with
 * onnxruntime), and the ratios.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { createModel, exportOnnx, getModelEntry, listModels, packageRootPath, tf } from '../src/index.js';
import type { BenchModule, BenchReport } from './types.js';
import { alternate, benchInput, benchSession, median, nodeCount, timeRun } from './ort.js';
import { setFusedInference } from '../src/kernels/inference.js';

/** The smallest canonical variant (reference key list) of each architecture; all registered names when there are no lists. */
export function canonicalRepresentatives(): string[] {
  // The official key lists of the canonical variants (test data in the repository).
  const KEYS = join(packageRootPath(), 'test', 'fixtures', 'keys');
  const canonical = existsSync(KEYS) ? new Set(readdirSync(KEYS).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5))) : null;
  const best = new Map<string, { name: string; params: number }>();
  for (const name of listModels()) {
    if (canonical && !canonical.has(name)) continue;
    const m = createModel(name, { init: false });
    const params = m.numParams();
    m.dispose();
    const arch = getModelEntry(name).architecture;
    const cur = best.get(arch);
    if (!cur || params < cur.params) best.set(arch, { name, params });
  }
  return [...best.values()].map((b) => b.name);
}

/**
 * tfjs kernels one forward runs (on the current backend; the profiler's `*__op` entries are custom-gradient
 * scopes, not kernels), after one unprofiled forward (the first converts parameter layouts): all of them, and
 * those that are not Reshape (a Reshape moves no data on any tfjs backend: on WebGPU it dispatches nothing).
 */
export async function kernelsPerForward(model: { forward(x: tf.Tensor): tf.Tensor | tf.Tensor[] }, x: tf.Tensor): Promise<{ all: number; moving: number }> {
  tf.dispose(model.forward(x));
  const info = await tf.profile(() => {
    const y = model.forward(x);
    tf.dispose(y);
  });
  const kernels = info.kernels.filter((k) => !k.name.endsWith('__op'));
  return { all: kernels.length, moving: kernels.filter((k) => k.name !== 'Reshape').length };
}

/** `f` with the single-kernel inference paths on or off (restored to on). */
async function withFused<T>(on: boolean, f: () => Promise<T>): Promise<T> {
  setFusedInference(on);
  try {
    return await f();
  } finally {
    setFusedInference(true);
  }
}

async function familyRow(name: string): Promise<string> {
  const model = createModel(name, { seed: 1 }).eval();
  const [, h, w] = model.pretrainedCfg.inputSize;
  const x1 = tf.randomNormal([1, h, w, 3], 0, 1, 'float32', 1);
  const composite = await withFused(false, () => kernelsPerForward(model, x1));
  const kernels = await kernelsPerForward(model, x1);
  const bytes = (await exportOnnx(model, { dynamicBatch: true })).bytes;
  const session = await benchSession(bytes);
  const tfjs = (on: boolean) => () =>
    withFused(on, async () => {
      const t0 = performance.now();
      const y = model.forward(x1) as tf.Tensor;
      await y.data();
      y.dispose();
      return performance.now() - t0;
    });
  const in1 = await benchInput([1, 3, h, w]);
  const ort = async () => (await timeRun(session, in1)).ms;
  const r = await alternate(tfjs(true), ort, 5);
  const rc = await alternate(tfjs(false), ort, 3);
  const in8 = await benchInput([8, 3, h, w]);
  await timeRun(session, in8);
  const t8: number[] = [];
  for (let i = 0; i < 3; i++) t8.push((await timeRun(session, in8)).ms);
  await session.release();
  x1.dispose();
  model.dispose();
  const cells = [name, composite.all, kernels.all, (kernels.all / composite.all).toFixed(2), `${composite.moving} / ${kernels.moving} (${(kernels.moving / composite.moving).toFixed(2)})`, nodeCount(bytes), r.bMs.toFixed(1), (median(t8) / 8).toFixed(1), rc.aMs.toFixed(1), r.aMs.toFixed(1), rc.ratio.toFixed(2), r.ratio.toFixed(2)];
  return `| ${cells.join(' | ')} |`;
}

const families: BenchReport = {
  name: 'families ort tfjs',
  run: async () => {
    const lines = [
      `Every family at its input size: onnxruntime (CPU, 1 thread) and tfjs-${tf.getBackend()}, ms per image (tfjs and onnxruntime alternate at batch 1)`,
      'composite: the inference kernels off (setFusedInference(false)); fused: on (the default). tfjs / ORT ratios are medians of alternating pairs.',
      '| model | kernels / forward, composite | kernels / forward, fused | fused / composite | without Reshape: composite / fused (ratio) | ONNX nodes | ORT b1 ms/img | ORT b8 ms/img | tfjs composite b1 ms/img | tfjs fused b1 ms/img | composite / ORT | fused / ORT |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ];
    const picked = process.env.VIZOO_BENCH_MODELS?.split(',').filter(Boolean);
    for (const name of picked ?? canonicalRepresentatives()) {
      process.stderr.write(`    ${name}\n`);
      lines.push(await familyRow(name));
    }
    return lines;
  },
};

export const interop: BenchModule = { benchmarks: [], reports: [families] };
