/**
 * `npm run bench`: every benchmark case on every available backend (median of N after warm-up, peak
 * tfjs memory of one iteration), as a table with each backend's ratio to wasm, then the declared ratios.
 * Usage: npm run bench [-- --filter <substring>[,<substring>...]] [--backends wasm,cpu] [--iterations N]
 */
import { parseArgs } from 'node:util';
import { type BackendName, availableBackends, tf, useBackend } from '../src/index.js';
import type { BenchCase, BenchModule, BenchRatio } from './types.js';
import { van } from './van.js';
import { largeKernel } from './large_kernel.js';
import { vig } from './vig.js';
import { globalAttention } from './global_attention.js';
import { train } from './train.js';
import { localSparse } from './local_sparse.js';
import { interop } from './interop.js';
import { readers } from './readers.js';

const MODULES: BenchModule[] = [van, largeKernel, vig, globalAttention, localSparse, train, interop, readers];

interface Row {
  name: string;
  backend: BackendName;
  medianMs: number;
  peakBytes: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function measure(c: BenchCase, iterations: number): Promise<{ medianMs: number; peakBytes: number }> {
  const r = await c.setup();
  try {
    for (let i = 0; i < (c.warmup ?? 2); i++) await r.run();
    const before = tf.memory().numTensors;
    let peakBytes = 0;
    const info = await tf.profile(async () => {
      await r.run();
    });
    peakBytes = info.peakBytes;
    const times: number[] = [];
    for (let i = 0; i < (c.iterations ?? iterations); i++) {
      const t0 = performance.now();
      await r.run();
      times.push(performance.now() - t0);
    }
    const leaked = tf.memory().numTensors - before;
    if (leaked > 0) process.stderr.write(`warning: ${c.name} leaks ${leaked} tensors per ${times.length + 1} iterations\n`);
    return { medianMs: median(times), peakBytes };
  } finally {
    r.dispose?.();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { filter: { type: 'string' }, backends: { type: 'string' }, iterations: { type: 'string' } } });
  const iterations = Number(values.iterations ?? 10);
  const wanted = values.backends?.split(',') as BackendName[] | undefined;
  let backends = await availableBackends();
  // A software WebGPU adapter (SwiftShader) is ~100x slower than wasm: only benchmark it when asked for.
  if (!wanted) backends = backends.filter((b) => b !== 'webgpu' || !process.env.VK_ICD_FILENAMES?.includes('swiftshader'));
  else backends = backends.filter((b) => wanted.includes(b));
  const filters = values.filter?.split(',').filter(Boolean);
  const cases = MODULES.flatMap((m) => m.benchmarks).filter((c) => !filters || filters.some((f) => c.name.includes(f)));
  const rows: Row[] = [];
  for (const backend of backends) {
    await useBackend(backend);
    for (const c of cases) {
      if (c.backends && !c.backends.includes(backend)) continue;
      const m = await measure(c, iterations);
      rows.push({ name: c.name, backend, ...m });
      process.stderr.write(`  ${backend.padEnd(8)} ${c.name}: ${m.medianMs.toFixed(2)} ms\n`);
    }
  }
  const wasm = new Map(rows.filter((r) => r.backend === 'wasm').map((r) => [r.name, r.medianMs]));
  const out = ['| case | backend | median ms | peak MiB | time / wasm |', '|---|---|---:|---:|---:|'];
  for (const r of rows) {
    const w = wasm.get(r.name);
    out.push(`| ${r.name} | ${r.backend} | ${r.medianMs.toFixed(2)} | ${Number.isFinite(r.peakBytes) ? (r.peakBytes / 2 ** 20).toFixed(1) : '-'} | ${w ? (r.medianMs / w).toFixed(2) : '-'} |`);
  }
  for (const r of rows.filter((x) => / train step (\d+)x/.test(x.name))) {
    const batch = Number(/ train step (\d+)x/.exec(r.name)![1]);
    out.push(`${r.name} [${r.backend}]: ${((batch * 1000) / r.medianMs).toFixed(1)} images/s`);
  }
  const ratios: BenchRatio[] = MODULES.flatMap((m) => m.ratios ?? []);
  for (const q of ratios) {
    for (const backend of backends) {
      const a = rows.find((r) => r.name === q.numerator && r.backend === backend);
      const b = rows.find((r) => r.name === q.denominator && r.backend === backend);
      if (a && b) out.push(`${q.label} [${backend}]: ${(a.medianMs / b.medianMs).toFixed(2)}`);
    }
  }
  process.stdout.write(`${out.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench: error: ${(e as Error).stack}\n`);
    process.exit(1);
  },
);
