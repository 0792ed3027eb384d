/**
 * `npm run bench`: every benchmark case on every available backend (median of N after warm-up, peak
 * tensor bytes over the timed iterations), as a table with each backend's ratio to wasm, then images/s of
 * the cases that count images (with their reference timings), then the declared ratios, the families' own
 * summaries (the token mixers' crossover table), then the reports (measurements outside that table:
 * alternating runtimes, processes, a browser).
 * Usage: npm run bench [-- --filter <substring>[,<substring>...]] [--backends wasm,cpu] [--iterations N]
 */
import { parseArgs } from 'node:util';
import { type BackendName, PeakMeter, TrainingMemoryError, availableBackends, formatBytes, tf, useBackend } from '../src/index.js';
import type { BenchCase, BenchModule, BenchRatio, Reference } from './types.js';
import { van } from './van.js';
import { largeKernel } from './large_kernel.js';
import { vig } from './vig.js';
import { globalAttention } from './global_attention.js';
import { train } from './train.js';
import { localSparse } from './local_sparse.js';
import { interop } from './interop.js';
import { startup } from './startup.js';
import { browser } from './browser.js';
import { mixerBench } from './mixers.js';
import { official } from './official.js';
import { readers } from './readers.js';
import { wasmThreads } from './wasm_threads.js';
import { matmul } from './matmul.js';

const MODULES: BenchModule[] = [van, largeKernel, vig, globalAttention, localSparse, train, interop, mixerBench, official, readers, matmul, wasmThreads, startup, browser];

interface Row {
  name: string;
  backend: BackendName;
  medianMs: number;
  /** Median CPU time of this process per iteration (user + system): insensitive to other jobs on the machine. */
  cpuMs: number;
  peakBytes: number;
  /** The wasm heap after the case (it never shrinks: the process's high-water mark so far). */
  heapBytes?: number;
  images?: number;
  reference?: Reference | null;
  /** Why the case did not run (a step that does not fit the backend's memory). */
  skipped?: string;
}

function wasmHeapBytes(): number | undefined {
  const b = tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } };
  return b.wasm?.HEAPU8.buffer.byteLength;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function measure(c: BenchCase, iterations: number): Promise<{ medianMs: number; cpuMs: number; peakBytes: number }> {
  const r = await c.setup();
  try {
    for (let i = 0; i < (c.warmup ?? 2); i++) await r.run();
    const before = tf.memory().numTensors;
    const meter = new PeakMeter().start();
    const times: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < (c.iterations ?? iterations); i++) {
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      await r.run();
      const dc = process.cpuUsage(c0);
      times.push(performance.now() - t0);
      cpu.push((dc.user + dc.system) / 1000);
    }
    const peakBytes = meter.stop();
    const leaked = tf.memory().numTensors - before;
    if (leaked > 0) process.stderr.write(`warning: ${c.name} leaks ${leaked} tensors per ${times.length} iterations\n`);
    return { medianMs: median(times), cpuMs: median(cpu), peakBytes };
  } finally {
    r.dispose?.();
  }
}

async function main(): Promise<void> {
  let values: { filter?: string; backends?: string; iterations?: string; help?: boolean };
  try {
    ({ values } = parseArgs({ options: { filter: { type: 'string' }, backends: { type: 'string' }, iterations: { type: 'string' }, help: { type: 'boolean', short: 'h' } } }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
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
      let m: { medianMs: number; cpuMs: number; peakBytes: number };
      try {
        m = await measure(c, iterations);
      } catch (e) {
        if (!(e instanceof TrainingMemoryError)) throw e;
        rows.push({ name: c.name, backend, medianMs: NaN, cpuMs: NaN, peakBytes: NaN, skipped: e.message });
        process.stderr.write(`  ${backend.padEnd(8)} ${c.name}: does not fit (${e.message})\n`);
        continue;
      }
      const reference = c.reference ? await c.reference() : undefined;
      rows.push({ name: c.name, backend, ...m, heapBytes: wasmHeapBytes(), images: c.images, reference });
      process.stderr.write(`  ${backend.padEnd(8)} ${c.name}: ${m.medianMs.toFixed(2)} ms${reference ? `; ${reference.label}: ${reference.ms.toFixed(0)} ms` : ''}\n`);
    }
  }
  const wasm = new Map(rows.filter((r) => r.backend === 'wasm').map((r) => [r.name, r.medianMs]));
  const out = ['| case | backend | median ms | peak MiB | time / wasm |', '|---|---|---:|---:|---:|'];
  for (const r of rows.filter((x) => !x.skipped)) {
    const w = wasm.get(r.name);
    out.push(`| ${r.name} | ${r.backend} | ${r.medianMs.toFixed(2)} | ${Number.isFinite(r.peakBytes) ? (r.peakBytes / 2 ** 20).toFixed(1) : '-'} | ${w ? (r.medianMs / w).toFixed(2) : '-'} |`);
  }
  const counted = rows.filter((r) => r.images || r.skipped);
  if (counted.length) {
    out.push('', '| case | backend | images/s | peak tensors | wasm heap | official PyTorch images/s | vizoo / PyTorch |', '|---|---|---:|---:|---:|---:|---:|');
    for (const r of counted) {
      if (r.skipped) {
        out.push(`| ${r.name} | ${r.backend} | does not fit: ${r.skipped} | | | | |`);
        continue;
      }
      const ips = (r.images! * 1000) / r.medianMs;
      const ref = r.reference ? (r.images! * 1000) / r.reference.ms : null;
      out.push(`| ${r.name} | ${r.backend} | ${ips.toFixed(2)} | ${formatBytes(r.peakBytes)} | ${r.heapBytes ? formatBytes(r.heapBytes) : '-'} | ${ref ? ref.toFixed(2) : '-'} | ${ref ? (ips / ref).toFixed(2) : '-'} |`);
    }
  }
  const ratios: BenchRatio[] = MODULES.flatMap((m) => m.ratios ?? []);
  for (const q of ratios) {
    for (const backend of backends) {
      const a = rows.find((r) => r.name === q.numerator && r.backend === backend);
      const b = rows.find((r) => r.name === q.denominator && r.backend === backend);
      if (a && b) out.push(`${q.label} [${backend}]: ${(a.medianMs / b.medianMs).toFixed(2)}`);
    }
  }
  const times = (name: string, backend: BackendName) => rows.find((r) => r.name === name && r.backend === backend);
  for (const m of MODULES) out.push(...(m.summary?.(times, backends) ?? []));
  if (rows.length) process.stdout.write(`${out.join('\n')}\n`);
  await useBackend('wasm');
  for (const r of MODULES.flatMap((m) => m.reports ?? []).filter((c) => !filters || filters.some((f) => c.name.includes(f)))) {
    process.stderr.write(`  report ${r.name}\n`);
    process.stdout.write(`${(await r.run()).join('\n')}\n`);
  }
}

const USAGE = 'usage: npm run bench [-- --filter <substring>[,<substring>...]] [--backends wasm,cpu] [--iterations N]';

/** A bad command line: its message and the usage, no stack. */
class UsageError extends Error {}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(e instanceof UsageError ? `bench: ${e.message}\n${USAGE}\n` : `bench: error: ${(e as Error).stack}\n`);
    process.exit(1);
  },
);
