/**
 * The fuzz worker: a child process that runs inputs one at a time through vizoo's public readers
 * (readWeightsFile + loadWeights into a small model, loadImageRGB + loadEvalImage) and reports each
 * outcome. It caps its own address space (prlimit) once warm, measures each input's peak memory (VmHWM,
 * reset per input), and records every file it opens: anything opened outside the case folder is an escape.
 * The parent (fuzz/harness.ts) enforces the time limit and treats a dead worker as a crash or OOM.
 */
import fs, { existsSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative, resolve, isAbsolute } from 'node:path';
import sharp from 'sharp';
import { useBackend } from '../src/backend/index.js';
import { BatchNorm2d, Conv2d, Linear } from '../src/nn/layers.js';
import { Module } from '../src/nn/module.js';
import { loadWeights, readWeightsFile } from '../src/hub/weight_files.js';
import { loadEvalImage, loadImageRGB } from '../src/data/image.js';
import { EXTERNAL_DATA, type Format, INPUT_NAME } from './seeds.js';
import { type Outcome, errorOutcome, stateDictProblem } from './verdict.js';

export interface CaseMessage {
  id: number;
  format: Format;
  bytes: Uint8Array;
}

export interface CaseReply {
  id: number;
  outcome: Outcome;
  detail: string;
  ms: number;
  peakMb: number;
}

/** The module the weights inputs load into: the layout of FUZZ_LAYOUT in fuzz/seeds.ts. */
class FuzzNet extends Module {
  constructor() {
    super();
    this.add('conv', new Conv2d(3, 4, 3));
    this.add('bn', new BatchNorm2d(4));
    this.add('head', new Linear(4, 3));
  }
}

const SECRET = 'VIZOO-FUZZ-SECRET-CANARY:';
const memoryLimitMb = Number(process.env.VIZOO_FUZZ_MEMORY_MB ?? 1024);
/** The case folder; fuzz/harness.ts removes it by this name when it kills the worker. */
const root = join(tmpdir(), `vizoo-fuzz-${process.pid}`);
const modelDir = join(root, 'model');

/** The case folder: the input goes in model/, beside external data and links that point out of it. */
function prepareFolder(): void {
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(modelDir, 'sub'), { recursive: true });
  writeFileSync(join(root, 'secret.bin'), SECRET.repeat(200));
  writeFileSync(join(modelDir, 'weights.bin'), EXTERNAL_DATA);
  symlinkSync('../secret.bin', join(modelDir, 'link_out.bin'));
  symlinkSync('weights.bin', join(modelDir, 'link_in.bin'));
  symlinkSync('/dev/zero', join(modelDir, 'link_dev'));
  try {
    execFileSync('mkfifo', [join(modelDir, 'fifo')], { stdio: 'ignore' });
  } catch {
    // no mkfifo: the FIFO case is skipped
  }
}

/** Every path opened through node:fs while an input runs. */
const opened: string[] = [];
function recordOpens(): void {
  const f = fs as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const name of ['openSync', 'readFileSync', 'open', 'readFile', 'createReadStream']) {
    const orig = f[name]!;
    f[name] = function (this: unknown, ...args: unknown[]) {
      if (typeof args[0] === 'string') opened.push(args[0]);
      return orig.apply(this, args);
    };
  }
  syncBuiltinESMExports();
}

/** Those of `paths` outside the case folder (resolved through links). */
function escapes(paths: string[]): string[] {
  const inside = realpathSync(root);
  return paths.filter((p) => {
    let real = resolve(p);
    try {
      real = realpathSync(real);
    } catch {
      // a path that does not exist opens nothing
      return false;
    }
    const rel = relative(inside, real);
    return rel.startsWith('..') || isAbsolute(rel);
  });
}

function status(field: string): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

function resetPeak(): void {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux: peaks are not measured per input
  }
}

const EVAL = { size: [8, 8] as [number, number], channels: 3, cropPct: 0.875, interpolation: 'bicubic' as const, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const hasSecret = (b: ArrayBufferView) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).includes(SECRET.slice(0, 16));

/** Runs one input; returns the outcome for a result (errors are classified by the caller). */
async function runTarget(format: Format, path: string, model: Module): Promise<{ outcome: Outcome; detail: string }> {
  if (format === 'image') {
    const img = await loadImageRGB(path);
    if (!(img.width > 0 && img.height > 0 && img.data.byteLength === img.width * img.height * 3)) return { outcome: 'inconsistent', detail: `${img.width}x${img.height} with ${img.data.byteLength} bytes` };
    const x = await loadEvalImage(path, EVAL);
    if (x.length !== 8 * 8 * 3) return { outcome: 'inconsistent', detail: `eval image of ${x.length} values` };
    return { outcome: 'ok', detail: `${img.width}x${img.height}` };
  }
  const sd = readWeightsFile(path);
  const problem = stateDictProblem(sd);
  if (problem) return { outcome: 'inconsistent', detail: problem };
  for (const [k, t] of sd) if (hasSecret(t.data)) return { outcome: 'escape', detail: `'${k}' holds bytes of a file outside the model folder` };
  loadWeights(model, path, { strict: false });
  return { outcome: 'ok', detail: `${sd.size} tensors` };
}

async function main(): Promise<void> {
  prepareFolder();
  sharp.concurrency(1);
  sharp.cache(false);
  await useBackend('cpu');
  const model = new FuzzNet().initialize(0);
  recordOpens();
  const run = async (msg: CaseMessage): Promise<CaseReply> => {
    const path = join(modelDir, INPUT_NAME[msg.format]);
    writeFileSync(path, msg.bytes);
    resetPeak();
    const startMb = status('VmRSS'); // the peak is measured from here: this input's own growth
    opened.length = 0;
    const t0 = performance.now();
    let r: { outcome: Outcome; detail: string };
    try {
      r = await runTarget(msg.format, path, model);
    } catch (e) {
      r = errorOutcome(e, path);
    }
    const ms = performance.now() - t0;
    const out = escapes(opened.splice(0));
    const peakMb = status('VmHWM');
    if (out.length) r = { outcome: 'escape', detail: `opened ${out.slice(0, 3).join(', ')}` };
    else if (peakMb - startMb > memoryLimitMb) r = { outcome: 'oom', detail: `peak ${Math.round(peakMb - startMb)} MB above the ${Math.round(startMb)} MB it started from (${r.outcome}: ${r.detail})` };
    return { id: msg.id, ...r, ms, peakMb };
  };
  // Warm up on trivial inputs, then cap the address space a fixed amount above what the warm process uses.
  for (const format of ['safetensors', 'image'] as Format[]) await run({ id: -1, format, bytes: new Uint8Array(16) });
  const vm = status('VmSize');
  if (vm && memoryLimitMb > 0 && existsSync('/proc/self/status')) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--as=${Math.round((vm + memoryLimitMb + 512) * 2 ** 20)}`], { stdio: 'ignore' });
    } catch {
      // no prlimit: memory is still measured per input, only not capped
    }
  }
  process.on('message', (msg: CaseMessage) => {
    void run(msg).then((reply) => process.send!(reply));
  });
  process.send!({ ready: true });
}

process.on('disconnect', () => {
  rmSync(root, { recursive: true, force: true });
  process.exit(0);
});
void main();
