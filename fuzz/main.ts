/**
 * `npm run fuzz -- --format F --count N --seed S [--jobs J] [--time-limit-ms T] [--memory-limit-mb M] [--save DIR | --no-save]`
 *
 * Feeds N mutated inputs of format F (safetensors, pth-zip, pth-legacy, onnx, image, or all) through
 * vizoo's readers, each with a time and memory limit, and prints the outcome counts. Inputs that end in
 * anything but a result or a proper FileError are saved as reproducers (default test/fuzz-corpus/), which
 * test/fuzz/untrusted.test.ts runs on every `npm test`. Exits 1 when there are findings.
 */
import { Command } from 'commander';
import { CORPUS, DEFAULT_LIMITS, FuzzPool, type FuzzReport, runFuzz } from './harness.js';
import { type Format, FORMATS } from './seeds.js';
import { OUTCOMES } from './verdict.js';

const program = new Command('fuzz')
  .option('--format <f>', `one of ${FORMATS.join(', ')}, or all`, 'all')
  .option('--count <n>', 'inputs per format', '200')
  .option('--seed <s>', 'seed (the i-th input depends only on format, seed and i)', '1')
  .option('--jobs <j>', 'worker processes', '1')
  .option('--time-limit-ms <t>', 'CPU time per input (an input that waits gets 6 times as long in wall time)', String(DEFAULT_LIMITS.timeMs))
  .option('--memory-limit-mb <m>', 'memory per input above the idle worker', String(DEFAULT_LIMITS.memoryMb))
  .option('--save <dir>', 'where reproducers go', CORPUS)
  .option('--no-save', 'do not save reproducers')
  .parse();

const o = program.opts<{ format: string; count: string; seed: string; jobs: string; timeLimitMs: string; memoryLimitMb: string; save: string | false }>();
const formats = o.format === 'all' ? [...FORMATS] : [o.format as Format];
if (!formats.every((f) => (FORMATS as readonly string[]).includes(f))) {
  process.stderr.write(`fuzz: unknown format '${o.format}' (${FORMATS.join(', ')}, all)\n`);
  process.exit(2);
}
const limits = { timeMs: Number(o.timeLimitMs), memoryMb: Number(o.memoryLimitMb) };
const jobs = Number(o.jobs);
const pool = new FuzzPool(limits, jobs);
const reports: FuzzReport[] = [];
for (const format of formats) {
  let done = 0;
  const r = await runFuzz(
    {
      format,
      count: Number(o.count),
      seed: Number(o.seed),
      jobs,
      limits,
      saveDir: o.save || undefined,
      onResult: () => {
        if (++done % 500 === 0) process.stderr.write(`${format}: ${done}/${o.count}\n`);
      },
    },
    pool,
  );
  reports.push(r);
  const counts = OUTCOMES.map((k) => `${k} ${r.counts[k]}`).join(', ');
  process.stdout.write(`${format}: ${r.count} inputs (seed ${r.seed}) in ${r.seconds.toFixed(1)} s, slowest ${Math.round(r.slowestMs)} ms: ${counts}\n`);
  for (const f of r.findings.slice(0, 20)) process.stdout.write(`  #${f.index} ${f.outcome}: ${f.detail}${f.saved ? ` (saved ${f.saved})` : ''}\n`);
}
pool.close();
process.exit(reports.some((r) => r.findings.length) ? 1 : 0);
