/**
 * Joins bench/gpu result files (run.ts --out, torch_eager.py --out) into the README's table: images/s per
 * model, runtime and batch, and each runtime's ratio to PyTorch CUDA eager on the same machine.
 * usage: node dist/bench/gpu/table.js results_ort.json results_tfjs.json results_torch.json
 */
import { readFileSync } from 'node:fs';
import type { GpuResult } from './run.js';

const rows: GpuResult[] = process.argv.slice(2).flatMap((f) => JSON.parse(readFileSync(f, 'utf8')) as GpuResult[]).filter((r) => r.imagesPerSecond);
const rate = (runtime: string, model: string, batch: number) => rows.find((r) => r.runtime === runtime && r.model === model && r.batch === batch)?.imagesPerSecond;
const batches = [...new Set(rows.map((r) => r.batch))].sort((a, b) => a - b);
const cell = (v: number | undefined, base: number | undefined) => (v === undefined ? '-' : `${v.toFixed(1)}${base ? ` (${(v / base).toFixed(2)})` : ''}`);
const out = [
  `| model | batch | PyTorch CUDA eager img/s | ORT-WebGPU img/s (/ eager) | tfjs-webgpu img/s (/ eager) |`,
  '|---|---:|---:|---:|---:|',
];
for (const model of [...new Set(rows.map((r) => r.model))]) {
  for (const b of batches) {
    const eager = rate('torch-eager', model, b);
    out.push(`| ${model} | ${b} | ${cell(eager, undefined)} | ${cell(rate('ort', model, b), eager)} | ${cell(rate('tfjs', model, b), eager)} |`);
  }
}
const devices = [...new Set(rows.map((r) => `${r.runtime}: ${r.device}`))];
process.stdout.write(`${out.join('\n')}\n\n${devices.join('; ')}\n`);
