/**
 * Runs fuzz inputs in worker processes (fuzz/worker.ts, compiled to dist/fuzz/worker.js) with a CPU time
 * limit per input and a memory limit the worker enforces: a worker that overruns its time is killed (timeout),
 * one that dies is a crash (or an OOM when V8 or the allocator says so), and a fresh worker takes over.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Rng } from '../src/nn/rng.js';
import { type Format, FORMATS, INPUT_NAME, type Seeds, buildSeeds } from './seeds.js';
import { makeInput } from './mutate.js';
import { GOOD, type Outcome, OUTCOMES } from './verdict.js';
import type { CaseMessage, CaseReply } from './worker.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, whether this runs from fuzz/ (tests) or dist/fuzz/ (npm run fuzz). */
export const ROOT = basename(dirname(here)) === 'dist' ? join(here, '..', '..') : join(here, '..');
const WORKER = join(ROOT, 'dist', 'fuzz', 'worker.js');
export const CORPUS = join(ROOT, 'test', 'fuzz-corpus');

export interface Limits {
  /** CPU time per input (wall time WALL_FACTOR times as long for an input that waits). */
  timeMs: number;
  /** Memory an input may take above the idle worker (peak RSS; the address space is capped 512 MB above). */
  memoryMb: number;
}

export const DEFAULT_LIMITS: Limits = { timeMs: 10_000, memoryMb: 1024 };

export interface CaseResult {
  outcome: Outcome;
  detail: string;
  ms: number;
}

/** How many times the time limit an input may take in wall time, waiting rather than computing. */
const WALL_FACTOR = 6;

/** User + system CPU time of a process so far (Linux /proc), or null where that cannot be read. */
function cpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
/** USER_HZ: 100 on every Linux architecture Node runs on. */
const CLOCK_TICKS = 100;

class Worker {
  private proc: ChildProcess;
  private stderr = '';
  private pending: { resolve: (r: CaseResult) => void; timer: NodeJS.Timeout } | null = null;
  readonly ready: Promise<void>;
  dead = false;

  constructor(private readonly limits: Limits) {
    this.proc = fork(WORKER, [], {
      execArgv: [`--max-old-space-size=${limits.memoryMb + 512}`],
      env: { ...process.env, MALLOC_ARENA_MAX: '2', VIZOO_FUZZ_MEMORY_MB: String(limits.memoryMb) },
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.ready = new Promise((resolve, reject) => {
      const onMsg = (m: { ready?: boolean }) => {
        if (m.ready) (this.proc.off('message', onMsg), resolve());
      };
      this.proc.on('message', onMsg);
      this.proc.once('exit', (code) => reject(new Error(`fuzz worker exited (${code}) before it was ready: ${this.stderr.slice(-500)}`)));
    });
    this.ready.catch(() => undefined); // awaited by whoever takes this worker; a worker closed unused is fine
    this.proc.on('message', (m: CaseReply) => {
      if (m.id === undefined || !this.pending) return;
      const { resolve, timer } = this.pending;
      clearTimeout(timer);
      this.pending = null;
      resolve({ outcome: m.outcome, detail: m.detail, ms: m.ms });
    });
    this.proc.on('exit', (code, signal) => {
      this.dead = true;
      // A killed worker cannot remove its case folder (fuzz/worker.ts names it by pid).
      rmSync(join(tmpdir(), `vizoo-fuzz-${this.proc.pid}`), { recursive: true, force: true });
      if (!this.pending) return;
      clearTimeout(this.pending.timer);
      const oom = /out of memory|allocation failed|heap limit|Cannot allocate/i.test(this.stderr);
      const last = this.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 400);
      this.pending.resolve({ outcome: oom ? 'oom' : 'crash', detail: `worker died (${signal ?? code}): ${last}`, ms: 0 });
      this.pending = null;
    });
  }

  /**
   * Runs one input. The time limit is on the CPU time the worker spends on it (all its threads), so a
   * loaded machine does not turn slow inputs into timeouts; an input that waits without computing (a
   * blocking read) is stopped by the wall clock at WALL_FACTOR times the limit. Without /proc, wall time only.
   */
  run(format: Format, bytes: Uint8Array): Promise<CaseResult> {
    return new Promise((resolve) => {
      const t0 = performance.now();
      const cpu0 = cpuMs(this.proc.pid!);
      const stop = (detail: string) => {
        this.pending = null;
        this.kill();
        resolve({ outcome: 'timeout', detail, ms: performance.now() - t0 });
      };
      const check = () => {
        const wall = performance.now() - t0;
        const cpu = cpu0 === null ? wall : (cpuMs(this.proc.pid!) ?? cpu0) - cpu0;
        if (cpu > this.limits.timeMs) stop(`more than ${this.limits.timeMs} ms of CPU time`);
        else if (wall > this.limits.timeMs * (cpu0 === null ? 1 : WALL_FACTOR)) stop(`no answer in ${Math.round(wall)} ms (${Math.round(cpu)} ms of CPU time)`);
        else if (this.pending) this.pending.timer = setTimeout(check, Math.min(250, this.limits.timeMs / 4));
      };
      this.pending = { resolve, timer: setTimeout(check, Math.min(250, this.limits.timeMs / 4)) };
      this.proc.send({ id: 1, format, bytes } satisfies CaseMessage);
    });
  }

  kill(): void {
    this.dead = true;
    this.proc.kill('SIGKILL');
    rmSync(join(tmpdir(), `vizoo-fuzz-${this.proc.pid}`), { recursive: true, force: true });
  }
}

/** A pool of `jobs` workers; each input runs on an idle one, dead ones are replaced. */
export class FuzzPool {
  private idle: Worker[] = [];
  private waiting: ((w: Worker) => void)[] = [];

  constructor(
    private readonly limits: Limits = DEFAULT_LIMITS,
    jobs = 1,
  ) {
    for (let i = 0; i < jobs; i++) this.idle.push(new Worker(limits));
  }

  private async take(): Promise<Worker> {
    const w = this.idle.pop() ?? (await new Promise<Worker>((resolve) => this.waiting.push(resolve)));
    await w.ready;
    return w;
  }

  private give(w: Worker): void {
    const next = w.dead ? new Worker(this.limits) : w;
    const waiter = this.waiting.shift();
    if (waiter) waiter(next);
    else this.idle.push(next);
  }

  async run(format: Format, bytes: Uint8Array): Promise<CaseResult> {
    const w = await this.take();
    try {
      return await w.run(format, bytes);
    } finally {
      this.give(w);
    }
  }

  close(): void {
    for (const w of this.idle) w.kill();
    this.idle = [];
  }
}

export interface FuzzOptions {
  format: Format;
  count: number;
  seed: number;
  jobs?: number;
  limits?: Limits;
  /** Where to save non-typed inputs as reproducers (<dir>/<format>/...); none: not saved. */
  saveDir?: string;
  onResult?: (i: number, r: CaseResult) => void;
}

export interface FuzzReport {
  format: Format;
  count: number;
  seed: number;
  counts: Record<Outcome, number>;
  findings: { index: number; outcome: Outcome; detail: string; saved?: string }[];
  slowestMs: number;
  seconds: number;
}

let seedsCache: Promise<Seeds> | null = null;
export const fuzzSeeds = (): Promise<Seeds> => (seedsCache ??= buildSeeds(join(ROOT, 'test', 'fixtures', 'pth')));

/** The `i`-th input of a run: depends only on (format, seed, i). */
export async function fuzzInput(format: Format, seed: number, i: number): Promise<Uint8Array> {
  return makeInput(format, await fuzzSeeds(), new Rng(`${format}:${seed}:${i}`));
}

/** Runs `count` mutated inputs of one format and counts the outcomes. */
export async function runFuzz(o: FuzzOptions, pool?: FuzzPool): Promise<FuzzReport> {
  const t0 = performance.now();
  const own = !pool;
  pool ??= new FuzzPool(o.limits ?? DEFAULT_LIMITS, o.jobs ?? 1);
  const counts = Object.fromEntries(OUTCOMES.map((k) => [k, 0])) as Record<Outcome, number>;
  const findings: FuzzReport['findings'] = [];
  let slowestMs = 0;
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < o.count; i = next++) {
      const bytes = await fuzzInput(o.format, o.seed, i);
      const r = await pool!.run(o.format, bytes);
      counts[r.outcome]++;
      slowestMs = Math.max(slowestMs, r.ms);
      o.onResult?.(i, r);
      if (!GOOD.includes(r.outcome)) {
        const f: FuzzReport['findings'][number] = { index: i, outcome: r.outcome, detail: r.detail };
        if (o.saveDir) f.saved = saveReproducer(o.saveDir, o.format, `${r.outcome}-s${o.seed}-i${i}`, bytes);
        findings.push(f);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: o.jobs ?? 1 }, lane));
  } finally {
    if (own) pool.close();
  }
  return { format: o.format, count: o.count, seed: o.seed, counts, findings, slowestMs, seconds: (performance.now() - t0) / 1000 };
}

function saveReproducer(dir: string, format: Format, name: string, bytes: Uint8Array): string {
  const folder = join(dir, format);
  mkdirSync(folder, { recursive: true });
  const ext = INPUT_NAME[format].slice(INPUT_NAME[format].indexOf('.'));
  const path = join(folder, `${name}${ext}`);
  writeFileSync(path, bytes);
  return path;
}

/** The saved reproducers: every file under <dir>/<format>/. */
export function corpusFiles(dir = CORPUS): { format: Format; path: string }[] {
  const out: { format: Format; path: string }[] = [];
  for (const format of FORMATS) {
    let names: string[] = [];
    try {
      names = readdirSync(join(dir, format)).sort();
    } catch {
      continue;
    }
    for (const n of names) if (!n.endsWith('.md')) out.push({ format, path: join(dir, format, n) });
  }
  return out;
}

/** Runs every saved reproducer; returns each file's result. */
export async function runCorpus(pool: FuzzPool, dir = CORPUS): Promise<{ path: string; format: Format; result: CaseResult }[]> {
  const results = [];
  for (const { format, path } of corpusFiles(dir)) results.push({ path, format, result: await pool.run(format, readFileSync(path)) });
  return results;
}
