/**
 * onnxruntime-node vs tfjs-wasm: for the smallest canonical variant of every registered architecture, the
 * forward at 224x224 batch 1 and 8 in vizoo's tfjs path (wasm) and in its ORT path (`--runtime ort`: a
 * dynamic-batch ONNX export run by onnxruntime-node on the CPU).
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { createModel, exportOnnx, getModelEntry, listModels, packageRootPath } from '../src/index.js';
import type { BenchCase, BenchModule, BenchRatio } from './types.js';
import { moduleForwardCase } from './forward.js';

// The official key lists of the canonical variants (test data in the repository).
const KEYS = join(packageRootPath(), 'test', 'fixtures', 'keys');

/** The smallest canonical variant (reference key list) of each architecture; all registered names when there are no lists. */
function representatives(): string[] {
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

function tfjsCase(model: string, batch: number): BenchCase {
  return { ...moduleForwardCase(`${model} tfjs ${batch}x3x224x224`, () => createModel(model, { seed: 1 }), [batch, 224, 224, 3]), backends: ['wasm'] };
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function ortCase(model: string, batch: number): BenchCase {
  return {
    name: `${model} ort ${batch}x3x224x224`,
    backends: ['wasm'],
    warmup: 3,
    setup: async () => {
      if (!sessions.has(model)) {
        sessions.set(
          model,
          (async () => {
            const m = createModel(model, { seed: 1 }).eval();
            const r = await exportOnnx(m, { dynamicBatch: true, inputSize: [224, 224] });
            m.dispose();
            return ort.InferenceSession.create(r.bytes, { logSeverityLevel: 3, graphOptimizationLevel: 'all' });
          })(),
        );
      }
      const s = await sessions.get(model)!;
      const x = new ort.Tensor('float32', new Float32Array(batch * 3 * 224 * 224).map((_, i) => Math.sin(i)), [batch, 3, 224, 224]);
      return {
        run: async () => {
          await s.run({ input: x });
        },
      };
    },
  };
}

const models = representatives();

export const interop: BenchModule = {
  benchmarks: models.flatMap((m) => [1, 8].flatMap((b) => [tfjsCase(m, b), ortCase(m, b)])),
  ratios: models.flatMap((m) => [1, 8].map((b): BenchRatio => ({ label: `${m} ORT / tfjs-wasm at batch ${b}`, numerator: `${m} ort ${b}x3x224x224`, denominator: `${m} tfjs ${b}x3x224x224` }))),
};
