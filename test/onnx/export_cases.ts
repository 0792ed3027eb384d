// ONNX export of registered models, checked in onnxruntime-node against vizoo's own forward. The cases
// are split over PARTS test files (architectures, and the other models, dealt out in turn) so that vitest's
// workers share them evenly.
//
// Default run: the smallest variant of every architecture at a small input with a dynamic batch (checked at
// batch 2 and 1), the smallest canonical variant of every architecture at 224x224, every ViT token mixer, and
// every other registered model at a small config (createModel's `depths` option: one block per stage) and
// small input.
// VIZOO_EXPORT_ALL=1 exports every other registered model at its full depth.
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { tf } from '../../src/tf.js';
import { type Backbone, type ModelOptions, TOKEN_MIXERS, createModel, getModelEntry, listModels } from '../../src/index.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { patternInput } from '../../src/onnx/trace.js';
import { readdirSync } from 'node:fs';
import { KEYS } from '../paths.js';

const ALL = Boolean(process.env.VIZOO_EXPORT_ALL);
/** Input sizes tried in order: the first the model's forward accepts is used. */
const SMALL_SIZES = [64, 96, 128, 224];

const canonical = new Set(readdirSync(KEYS).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5)));

interface Probe {
  name: string;
  architecture: string;
  params: number;
}

const probes: Probe[] = listModels().map((name) => {
  const m = createModel(name, { init: false });
  const p = { name, architecture: getModelEntry(name).architecture, params: m.numParams() };
  m.dispose();
  return p;
});

function smallestBy(filter: (p: Probe) => boolean): Map<string, Probe> {
  const out = new Map<string, Probe>();
  for (const p of probes.filter(filter)) {
    const cur = out.get(p.architecture);
    if (!cur || p.params < cur.params) out.set(p.architecture, p);
  }
  return out;
}

const smallest = smallestBy(() => true);
/** Input size each model was checked at (the 224 check skips models already checked there). */
const ranAt = new Map<string, number>();
const smallestCanonical = smallestBy((p) => canonical.has(p.name));

/** Max |a - b| relative to max |b| (floored at 1). */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let m = 1e-6;
  for (let i = 0; i < b.length; i++) {
    d = Math.max(d, Math.abs(a[i]! - b[i]!));
    m = Math.max(m, Math.abs(b[i]!));
  }
  return d / Math.max(m, 1);
}

async function reference(model: Backbone, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const xt = tf.tidy(() => tf.transpose(tf.tensor(x, shape), [0, 2, 3, 1]));
  const y = model.forward(xt);
  const out = tf.tidy(() => (y.rank === 4 ? tf.transpose(y, [0, 3, 1, 2]) : y.clone()));
  const data = (await out.data()) as Float32Array;
  tf.dispose([xt, y, out]);
  return data;
}

/**
 * Exports `name` at the first input size its forward accepts and compares onnxruntime with vizoo (batches 2
 * and 1 for a dynamic batch). Models that only run at 224x224 export with batch 1: their traces are slow.
 */
async function check(name: string, sizes: number[], wantDynamic: boolean, depths?: number[], extra: ModelOptions = {}, dynamicBelow = 224): Promise<{ size: number; rel: number[] }> {
  const cfg = getModelEntry(name).pretrainedCfg;
  const model = createModel(name, { numClasses: cfg.task === 'segmentation' ? 5 : 7, seed: 3, depths, ...extra }).eval();
  try {
    let lastError: unknown;
    for (const size of sizes) {
      // A size the model rejects (patch grids, attention windows) is not an export failure: try the next.
      // The plain forward finds out in milliseconds where a trace would run part of the model first.
      try {
        tf.dispose(tf.tidy(() => model.forward(tf.zeros([1, size, size, cfg.inputSize[0]]))));
      } catch (e) {
        lastError = e;
        continue;
      }
      const dynamic = wantDynamic && size < dynamicBelow;
      const r = await exportOnnx(model, { inputSize: [size, size], dynamicBatch: dynamic });
      const session = await ort.InferenceSession.create(r.bytes, { logSeverityLevel: 3 });
      const rel: number[] = [];
      for (const b of dynamic ? [2, 1] : [1]) {
        const c = cfg.inputSize[0];
        const shape = [b, c, size, size];
        const x = patternInput(b * c * size * size, 11 + b);
        const out = await session.run({ input: new ort.Tensor('float32', x, shape) });
        const y = out.output!.data as Float32Array;
        const ref = await reference(model, x, shape);
        expect(y.length).toBe(ref.length);
        rel.push(relDiff(y, ref));
      }
      await session.release();
      ranAt.set(name, size);
      return { size, rel };
    }
    throw lastError;
  } finally {
    model.dispose();
  }
}

export const PARTS = 4;

/** Registers the cases of part `part` (0 to PARTS - 1). */
export function registerExportTests(part: number): void {
  const mine = (architecture: string) => [...new Set(probes.map((p) => p.architecture))].sort().indexOf(architecture) % PARTS === part;
  describe('ONNX export of every architecture (smallest variant, small input, dynamic batch)', () => {
    for (const p of [...smallest.values()].filter((q) => mine(q.architecture))) {
      it(`${p.name} (${p.architecture})`, async () => {
        const r = await check(p.name, SMALL_SIZES, true);
        for (const rel of r.rel) expect(rel).toBeLessThanOrEqual(1e-4);
      });
    }
  });

  describe('ONNX export of the smallest canonical variant of every architecture at 224x224', () => {
    for (const p of [...smallestCanonical.values()].filter((q) => mine(q.architecture))) {
      it(`${p.name} (${p.architecture})`, async (ctx) => {
        if (ranAt.get(p.name) === 224) return ctx.skip();
        const r = await check(p.name, [224], false);
        expect(r.rel[0]).toBeLessThanOrEqual(1e-4);
      });
    }
  });

  // 144x144: 82 tokens, two DiagAttention chunks. The causal mixers switch to their block forms at longer
  // lengths (kernels/linear_attention.ts chunkPays): 384x384 (577 tokens) exports those too.
  describe('ONNX export of every token mixer (vit_tiny with one block, dynamic batch)', () => {
    for (const { name: mixer, reach } of TOKEN_MIXERS.filter((_, i) => i % PARTS === part)) {
      for (const size of reach === 'causal' ? [144, 384] : [144]) {
        it(`${mixer} ${size}x${size}`, async () => {
          const r = await check('vit_tiny', [size], true, [1], { mixer, imgSize: size }, 512);
          for (const rel of r.rel) expect(rel).toBeLessThanOrEqual(1e-4);
        });
      }
    }
  });

  describe(`ONNX export of every other registered model${ALL ? '' : ' at a small config (its own widths, heads, kernels and flags; one block per stage)'}`, () => {
    const covered = new Set([...smallest.values()].map((p) => p.name));
    const others = probes.filter((p) => !covered.has(p.name));
    for (const [i, p] of others.entries()) {
      if (i % PARTS !== part) continue;
      it(p.name, async () => {
        const depths = ALL ? undefined : getModelEntry(p.name).depths?.map(() => 1);
        const r = await check(p.name, SMALL_SIZES, false, depths);
        expect(r.rel[0]).toBeLessThanOrEqual(1e-4);
      });
    }
  });
}
