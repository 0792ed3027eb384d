/**
 * Start-up of the CLI: `vizoo --version`, `list`, `info` (no compute backend is loaded for these), and the
 * time to the first result of `classify` on the shipped sample, split into start-up (process, imports,
 * backend, weights) and inference (decode, preprocess, forward), medians of interleaved runs.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { classifyImages, loadModel, packageRootPath, useBackend } from '../src/index.js';
import type { BenchModule } from './types.js';

const ROOT = packageRootPath();
const CLI = join(ROOT, 'dist', 'cli', 'main.js');
const SAMPLE = join(ROOT, 'assets', 'samples', 'ankle_boot.png');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1]! : (s[(s.length >> 1) - 1]! + s[s.length >> 1]!) / 2;
}

function timeCli(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, VIZOO_BACKEND: 'wasm' } });
  if (r.status !== 0) throw new Error(`vizoo ${args.join(' ')} failed: ${r.stderr}`);
  return performance.now() - t0;
}

export const startup: BenchModule = {
  benchmarks: [],
  reports: [{
    name: 'startup',
    run: async () => {
    const commands: [string, string[]][] = [
      ['vizoo --version', ['--version']],
      ['vizoo list', ['list']],
      ['vizoo info van_b0', ['info', 'van_b0']],
      ['vizoo classify (first result)', ['classify', SAMPLE]],
    ];
    const times = new Map<string, number[]>(commands.map(([n]) => [n, []]));
    for (let i = 0; i < 5; i++) for (const [n, args] of commands) times.get(n)!.push(timeCli(args));
    // The inference part of classify, warm, in this process: decode + preprocess + forward of the sample.
    await useBackend('wasm');
    const model = loadModel('van_fmnist');
    await classifyImages(model, [SAMPLE]);
    const infer: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      await classifyImages(model, [SAMPLE]);
      infer.push(performance.now() - t0);
    }
    const lines = ['| command | median ms (5 runs) |', '|---|---:|'];
    for (const [n] of commands) lines.push(`| ${n} | ${median(times.get(n)!).toFixed(0)} |`);
    const total = median(times.get('vizoo classify (first result)')!);
    const inference = median(infer);
    lines.push(`classify time to first result: ${total.toFixed(0)} ms = start-up ${(total - inference).toFixed(0)} ms + inference ${inference.toFixed(0)} ms (start-up share ${((total - inference) / total).toFixed(2)})`);
    return lines;
  }}],
};
