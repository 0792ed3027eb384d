/**
 * vizoo's ONNX export against the official PyTorch export of the same weights (bench/anchors): each
 * anchor's .pth is made (anchors/weights.ts) in a temporary folder beside a copy of the official export,
 * which reads its initializers from it, then loaded into vizoo and exported (dynamic batch); both graphs run in onnxruntime's CPU
 * provider with one thread, in alternating pairs at batch 1 and 8. Printed per anchor: the median of the
 * pairs' time ratios vizoo / official (goal: <= 1), the median times, the node counts as written and after
 * onnxruntime's optimizations, and the largest difference between the two outputs.
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportOnnx, loadModel, packageRootPath } from '../src/index.js';
import { writeAnchorWeights } from './anchors/weights.js';
import type { BenchModule, BenchReport } from './types.js';
import { alternate, benchInput, benchSession, nodeCount, optimizedNodeCount, timeRun } from './ort.js';

const ANCHORS = join(packageRootPath(), 'bench', 'anchors');
/** Pairs per batch size: the ratio sits near 1, where 7 pairs on a shared 2-core machine moved it by +-0.05. */
const OFFICIAL_PAIRS = Number(process.env.VIZOO_BENCH_PAIRS ?? 15);

function anchorReport(name: string): BenchReport {
  return {
    name: `official ${name}`,
    run: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vizoo-anchor-'));
      const model = loadModel(name, { weights: writeAnchorWeights(name, dir) });
      const ours = (await exportOnnx(model, { dynamicBatch: true })).bytes;
      model.dispose();
      const theirs = join(dir, `${name}_official.onnx`);
      copyFileSync(join(ANCHORS, `${name}_official.onnx`), theirs);
      const [a, b] = [await benchSession(ours), await benchSession(theirs)];
      const lines = [
        `${name}: vizoo ONNX vs the official export (onnxruntime CPU, 1 thread, median of alternating pairs)`,
        `  graph nodes: vizoo ${nodeCount(ours)} (${await optimizedNodeCount(ours)} after onnxruntime's optimizations), official ${nodeCount(theirs)} (${await optimizedNodeCount(theirs)})`,
      ];
      for (const batch of [1, 8]) {
        const x = await benchInput([batch, 3, 224, 224]);
        const [ya, yb] = [(await timeRun(a, x)).out, (await timeRun(b, x)).out];
        let diff = 0;
        for (let i = 0; i < ya.length; i++) diff = Math.max(diff, Math.abs(ya[i]! - yb[i]!));
        const r = await alternate(async () => (await timeRun(a, x)).ms, async () => (await timeRun(b, x)).ms, OFFICIAL_PAIRS);
        lines.push(
          `  batch ${batch}: vizoo ${r.aMs.toFixed(1)} ms, official ${r.bMs.toFixed(1)} ms, vizoo/official ${r.ratio.toFixed(3)} (${r.pairs} pairs); max |output difference| ${diff.toExponential(1)}`,
        );
      }
      await Promise.all([a.release(), b.release()]);
      rmSync(dir, { recursive: true, force: true });
      return lines;
    },
  };
}

export const official: BenchModule = {
  benchmarks: [],
  reports: ['van_b0', 'unireplknet_a_deploy'].map(anchorReport),
};
