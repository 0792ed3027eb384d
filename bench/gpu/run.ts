/**
 * The GPU benchmark: images/s at batch 1 and 32 for the smallest canonical variant of every architecture,
 * in onnxruntime's bundled WebGPU provider (`--runtime ort`: vizoo's dynamic-batch export) or in
 * tfjs-webgpu (`--runtime tfjs`), one runtime per process. `--dump DIR` also writes each export as a JSON
 * graph + raw weights (and one reference output) for torch_eager.py, the PyTorch CUDA eager denominator
 * on the same machine; table.ts joins the JSON results into the README's table. See README.md here.
 *
 * usage: node dist/bench/gpu/run.js --list    (the default models, comma-separated)
 *        node dist/bench/gpu/run.js --runtime ort|tfjs [--device webgpu|cpu] [--models a,b] [--batches 1,32] [--size S]
 *        [--iterations N] [--dump DIR] [--out results.json]
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
// Imported here so a bundle of this script (pack.sh) has the CPU backends without node_modules (a bare
// side-effect import would be dropped: the package declares no side effects).
import { version_cpu } from '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { getGpuAdapter } from '../../src/backend/webgpu.js';
import { createModel, createOrtSession, exportOnnx, loadOrt, tf, useBackend } from '../../src/index.js';
import type onnxProto from 'onnx-proto';
import { decodeModel } from '../../src/onnx/graph.js';
import { canonicalRepresentatives } from '../interop.js';
import { median } from '../ort.js';

export interface GpuResult {
  runtime: string;
  model: string;
  size: number[];
  batch: number;
  imagesPerSecond: number;
  device: string;
}

/** The graph of ONNX `bytes` as JSON plus its initializers' raw bytes (torch_eager.py reads both). */
function dumpGraph(bytes: Uint8Array): { json: string; bin: Buffer } {
  const g = decodeModel(bytes).graph!;
  const chunks: Buffer[] = [];
  let offset = 0;
  const num = (v: unknown) => Number(v as number);
  const inits = g.initializer!.map((t) => {
    const raw = Buffer.from(t.rawData ?? new Uint8Array(0));
    const e = { name: t.name, dtype: t.dataType, dims: (t.dims ?? []).map(num), offset, length: raw.length };
    chunks.push(raw);
    offset += raw.length;
    return e;
  });
  const attr = (a: onnxProto.onnx.IAttributeProto) => {
    if (a.t) return { t: { dtype: a.t.dataType, dims: (a.t.dims ?? []).map(num), data: Array.from(Buffer.from(a.t.rawData ?? [])) } };
    if (a.ints?.length) return { ints: a.ints.map(num) };
    if (a.floats?.length) return { floats: a.floats };
    if (a.s?.length) return { s: Buffer.from(a.s).toString() };
    if (a.type === 1) return { f: a.f };
    return { i: num(a.i ?? 0) };
  };
  const nodes = g.node!.map((n) => ({ op: n.opType, inputs: n.input, outputs: n.output, attrs: Object.fromEntries((n.attribute ?? []).map((a) => [a.name, attr(a)])) }));
  const json = JSON.stringify({ inputs: g.input!.map((i) => i.name), outputs: g.output!.map((o) => o.name), initializers: inits, nodes });
  return { json, bin: Buffer.concat(chunks) };
}

async function timeBatches(run: (batch: number) => Promise<void>, batches: number[], iterations: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const b of batches) {
    await run(b);
    await run(b);
    const ts: number[] = [];
    for (let i = 0; i < iterations; i++) {
      const t0 = performance.now();
      await run(b);
      ts.push(performance.now() - t0);
    }
    out.set(b, (1000 * b) / median(ts));
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { list: { type: 'boolean' }, runtime: { type: 'string' }, device: { type: 'string' }, models: { type: 'string' }, batches: { type: 'string' }, size: { type: 'string' }, iterations: { type: 'string' }, dump: { type: 'string' }, out: { type: 'string' } },
  });
  if (values.list) return void process.stdout.write(`${canonicalRepresentatives().join(',')}\n`);
  const runtime = values.runtime;
  void version_cpu;
  if (runtime !== 'ort' && runtime !== 'tfjs') throw new Error('--runtime must be ort or tfjs');
  // onnxruntime's provider: webgpu (the benchmark), or cpu to check the script where there is no GPU.
  const ortDevice = values.device === 'cpu' ? 'cpu' : 'webgpu';
  const batches = (values.batches ?? '1,32').split(',').map(Number);
  const iterations = Number(values.iterations ?? 10);
  const models = values.models?.split(',').filter(Boolean) ?? canonicalRepresentatives();
  const results: GpuResult[] = [];
  if (values.dump) mkdirSync(values.dump, { recursive: true });
  // In the bundle, tfjs's wasm binaries sit beside the script.
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, 'tfjs-backend-wasm.wasm'))) setWasmPaths(`${here}/`);
  // tfjs-backend-webgpu registers itself only when WebGPU's globals exist at its import.
  if (runtime === 'tfjs' && (await getGpuAdapter())) await import('@tensorflow/tfjs-backend-webgpu');
  for (const name of models) {
    // Exports trace on wasm (cpu when wasm is missing); tfjs runs on webgpu.
    await useBackend('wasm').catch((e: Error) => (process.stderr.write(`bench/gpu: tracing on cpu (${e.message})\n`), useBackend('cpu')));
    const model = createModel(name, { seed: 1 }).eval();
    const [c, h0, w0] = model.pretrainedCfg.inputSize;
    const [h, w] = values.size ? [Number(values.size), Number(values.size)] : [h0, w0];
    const input = (b: number) => Float32Array.from({ length: b * c * h * w }, (_, i) => Math.sin(i * 0.37));
    let rates: Map<number, number>;
    let device: string;
    if (runtime === 'ort') {
      const ort = await loadOrt();
      const bytes = (await exportOnnx(model, { dynamicBatch: true, inputSize: [h, w] })).bytes;
      const session = await createOrtSession(bytes, { device: ortDevice });
      const feeds = new Map(batches.map((b) => [b, new ort.Tensor('float32', input(b), [b, c, h, w])]));
      if (values.dump) {
        const { json, bin } = dumpGraph(bytes);
        writeFileSync(join(values.dump, `${name}.json`), json);
        writeFileSync(join(values.dump, `${name}.bin`), bin);
        const ref = await session.run({ input: new ort.Tensor('float32', input(2), [2, c, h, w]) });
        writeFileSync(join(values.dump, `${name}.ref.json`), JSON.stringify({ shape: [2, c, h, w], output: Array.from(ref.output!.data as Float32Array) }));
      }
      rates = await timeBatches(async (b) => void (await session.run({ input: feeds.get(b)! })), batches, iterations);
      await session.release();
      device = `onnxruntime-node ${ortDevice}`;
    } else {
      await useBackend('webgpu');
      const xs = new Map(batches.map((b) => [b, tf.transpose(tf.tensor(input(b), [b, c, h, w]), [0, 2, 3, 1])]));
      rates = await timeBatches(
        async (b) => {
          const y = model.forward(xs.get(b)!) as tf.Tensor;
          await y.data();
          y.dispose();
        },
        batches,
        iterations,
      );
      tf.dispose([...xs.values()]);
      device = `tfjs-webgpu`;
    }
    model.dispose();
    for (const [batch, ips] of rates) {
      results.push({ runtime, model: name, size: [h, w], batch, imagesPerSecond: ips, device });
      process.stdout.write(`${runtime} ${name} ${h}x${w} batch ${batch}: ${ips.toFixed(1)} img/s\n`);
    }
  }
  if (values.out) writeFileSync(values.out, JSON.stringify(results, null, 1));
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench/gpu: error: ${(e as Error).stack}\n`);
    process.exit(1);
  },
);
