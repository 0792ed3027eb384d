// Memory-bounded training: vizoo's freeing backward pass, per-block activation checkpointing (every
// family, tiny configurations), and the step-size check of fit() on the wasm backend's 4 GiB heap.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  type Backbone, type MemoryPlan, PeakMeter, SyntheticShapes, TrainingMemoryError, createModel, fit, inputSpecFor, planStepMemory, seedEverything, tf, valueAndGrads, variableGrads,
} from '../../src/index.js';
import { VAN } from '../../src/models/van.js';
import { UniRepLKNet } from '../../src/models/unireplknet.js';
import { NAT } from '../../src/models/nat.js';
import { DiNATs } from '../../src/models/dinat_s.js';
import { LITv2 } from '../../src/models/litv2.js';
import { SoftmaxFreeVisionTransformer } from '../../src/models/soft.js';
import { VisionTransformerKArAt } from '../../src/models/karat.js';
import { EETViT } from '../../src/models/eet.js';
import { ViG } from '../../src/models/vig.js';
import { HierViG } from '../../src/models/vig_h.js';
import { BEVANetCls } from '../../src/models/bevanet.js';
import { runCli } from '../helpers/cli.js';

const tinyVan = () => new VAN({ embedDims: [8, 16, 24, 32], depths: [2, 1, 1, 1], mlpRatios: [8, 8, 4, 4], numClasses: 3, dropRate: 0.1, dropPathRate: 0.3 });

/** A scalar of every output value (fixed random weights), so no gradient is trivially uniform. */
function weightedSum(out: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.mul(out, tf.randomNormal(out.shape, 0, 1, 'float32', 5))) as tf.Scalar);
}

describe("vizoo's backward pass", () => {
  it("gives tfjs's gradients bit for bit and peaks well below tf.variableGrads", async () => {
    const m = tinyVan().initialize(1).train();
    const vars = m.namedParameters().map(([, p]) => p.value);
    const x = tf.randomNormal([2, 48, 48, 3], 0, 1, 'float32', 2);
    const run = async (grads: typeof variableGrads) => {
      seedEverything(3);
      const meter = new PeakMeter().start();
      const start = tf.memory().numBytes;
      const r = grads(() => weightedSum(m.forward(x)), vars);
      const peak = meter.stop() - start;
      const values = await Promise.all(vars.map((v) => r.grads[v.name]!.data()));
      tf.dispose([r.value, ...Object.values(r.grads)]);
      return { values, peak };
    };
    const before = tf.memory().numTensors;
    const theirs = await run(tf.variableGrads);
    const ours = await run(variableGrads);
    expect(tf.memory().numTensors).toBe(before);
    expect(ours.values).toEqual(theirs.values);
    expect(ours.peak).toBeLessThan(0.6 * theirs.peak);
    tf.dispose(x);
    m.dispose();
  });
});

// [family, tiny model (drop-path on where the family has it), input size, tolerance relative to the largest
// value]. BEVANet's branches read the same maps in several checkpointed layers, so the gradient of such a map
// is a sum of the same terms in another order (rounding differences); everywhere else it is bit for bit.
const FAMILIES: [string, () => Backbone, number, number?][] = [
  ['VAN (BatchNorm, dropout, drop-path)', tinyVan, 32],
  ['UniRepLKNet', () => new UniRepLKNet({ depths: [1, 1, 2, 1], dims: [8, 16, 24, 32], kernelSizes: [[3], [13], [7, 5], [0]], numClasses: 3, dropPathRate: 0.3 }), 32],
  ['NAT', () => new NAT({ embedDim: 16, mlpRatio: 2, depths: [2, 2], numHeads: [2, 4], kernelSize: 7, numClasses: 3, dropPathRate: 0.3 }), 56],
  ['DiNAT_s', () => new DiNATs({ embedDim: 16, depths: [2, 2], numHeads: [2, 4], kernelSize: 3, dilations: [[1, 4], [1, 2]], numClasses: 3, dropPathRate: 0.3 }), 64],
  ['LITv2', () => new LITv2({ embedDim: 8, depths: [1, 1, 1, 1], numHeads: [1, 1, 2, 2], alpha: 0.5, localWs: [0, 0, 2, 1], numClasses: 3, dropPathRate: 0.3 }), 32],
  ['SOFT', () => new SoftmaxFreeVisionTransformer({ embedDims: [8, 16, 16, 16], numHeads: [1, 2, 2, 2], depths: [1, 1, 1, 1], srRatios: [4, 2, 2, 1], qkvBias: true, numClasses: 3, dropPathRate: 0.3 }), 32],
  ['KArAt', () => new VisionTransformerKArAt({ imgSize: 16, patchSize: 8, embedDim: 12, depth: 2, numHeads: 2, rank: 3, gridSize: 2, numClasses: 3, mode: 'universal' }), 16],
  ['EET (token pruning)', () => new EETViT({ imgSize: 32, patchSize: 8, embedDim: 16, depth: 3, numHeads: 2, numClasses: 3, hashBits: 4, pruning: { after: [0, 1], keep: [10, 6] }, dropPathRate: 0.3 }), 32],
  ['ViG', () => new ViG({ embedDim: 16, depth: 2, numHeads: 2, imgSize: 32, numClasses: 3, dropPathRate: 0.3 }), 32],
  ['ViG-H', () => new HierViG({ dims: 16, depths: [1, 2], numHeads: [2, 2], numClasses: 3, dropPathRate: 0.3 }), 32],
  ['BEVANet', () => new BEVANetCls({ planes: 4, nBlocks: [1, 1, 2, 2, 1], numClasses: 3, lastPlanes: 8 }), 32, 1e-5],
];

/** Gradients of the input and every parameter, and the buffers after one training forward/backward. */
async function step(m: Backbone, size: number): Promise<Float32Array[]> {
  const x = tf.randomNormal([2, size, size, 3], 0, 1, 'float32', 7);
  const vars = m.namedParameters().map(([, p]) => p.value);
  seedEverything(11);
  const { value, grads } = valueAndGrads(() => weightedSum(m.forward(x)), [x, ...vars]);
  // A parameter the loss does not reach (null) must stay so with checkpointing.
  const out = await Promise.all([...grads.map((g) => (g ? (g.data() as Promise<Float32Array>) : new Float32Array(0))), ...m.namedBuffers().map(([, b]) => b.value.data() as Promise<Float32Array>)]);
  tf.dispose([x, ...value, ...grads.filter((g): g is tf.Tensor => !!g)]);
  return out;
}

/** The largest difference between two lists of arrays, relative to the largest magnitude in `a`. */
function maxRelativeDifference(a: Float32Array[], b: Float32Array[]): number {
  expect(b.map((t) => t.length)).toEqual(a.map((t) => t.length));
  let scale = 0;
  let diff = 0;
  a.forEach((u, i) => {
    for (let j = 0; j < u.length; j++) {
      scale = Math.max(scale, Math.abs(u[j]!));
      diff = Math.max(diff, Math.abs(u[j]! - b[i]![j]!));
    }
  });
  return diff === 0 ? 0 : diff / scale;
}

describe('gradient checkpointing', () => {
  for (const [family, build, size, tolerance] of FAMILIES) {
    it(`${family}: the same gradients (input and parameters) and running statistics as the plain path`, async () => {
      const plain = build().initialize(4).train();
      const ck = build().initialize(4).train().setGradCheckpointing(true);
      expect(ck.gradCheckpointing).toBe(true);
      const before = tf.memory().numTensors;
      const a = await step(plain, size);
      const b = await step(ck, size);
      expect(tf.memory().numTensors).toBe(before);
      const d = maxRelativeDifference(a, b);
      if (tolerance) expect(d).toBeLessThan(tolerance);
      else expect(d).toBe(0);
      // Off again: the modules' own forwards are back.
      expect(ck.setGradCheckpointing(false).gradCheckpointing).toBe(false);
      plain.dispose();
      ck.dispose();
    });
  }

  it('keeps less memory than the plain path and runs plain outside a gradient', async () => {
    const m = tinyVan().initialize(1).train();
    const vars = m.namedParameters().map(([, p]) => p.value);
    const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 2);
    const peak = () => {
      const meter = new PeakMeter().start();
      const start = tf.memory().numBytes;
      const r = variableGrads(() => weightedSum(m.forward(x)), vars);
      tf.dispose([r.value, ...Object.values(r.grads)]);
      return meter.stop() - start;
    };
    const plain = peak();
    const y0 = m.eval().forward(x);
    m.setGradCheckpointing(true);
    const y1 = m.forward(x);
    expect(await y1.data()).toEqual(await y0.data());
    m.train();
    const checkpointed = peak();
    expect(checkpointed).toBeLessThan(0.75 * plain);
    tf.dispose([x, y0, y1]);
    m.dispose();
  });
});

describe('fit() step memory', () => {
  const train = (gradCheckpoint: boolean | 'auto', plans: MemoryPlan[]) => {
    const model = createModel('van_fmnist', { numClasses: 4, seed: 1, dropPathRate: 0.2 });
    const spec = inputSpecFor(model.pretrainedCfg);
    const callbacks = { onMemoryPlan: (p: MemoryPlan) => plans.push(p) };
    return { model, run: fit(model, new SyntheticShapes(32, 28, 0), { epochs: 1, batchSize: 8, spec, numClasses: 4, maxSteps: 2, gradCheckpoint, mixup: 0.2, ema: 0.9, callbacks }) };
  };

  it('trains to the same weights with checkpointing as with the plain step chosen by auto (the probe steps leave no trace)', async () => {
    const weights: Float32Array[][] = [];
    const plans: MemoryPlan[] = [];
    for (const mode of [true, 'auto'] as const) {
      const { model, run } = train(mode, plans);
      await run;
      weights.push(await Promise.all(model.stateEntries().map(([, p]) => p.value.data() as Promise<Float32Array>)));
      expect(model.gradCheckpointing).toBe(false);
      model.dispose();
    }
    expect(plans.map((p) => p.checkpointing)).toEqual([true, false]);
    expect(maxRelativeDifference(weights[0]!, weights[1]!)).toBe(0);
  });

  it('refuses a step that would not fit in the wasm heap, naming a batch size that does', async () => {
    const model = createModel('van_fmnist', { numClasses: 4, seed: 1 });
    const spec = inputSpecFor(model.pretrainedCfg);
    const before = tf.memory().numTensors;
    const err = await fit(model, new SyntheticShapes(16, 28, 0), { epochs: 1, batchSize: 1_000_000, spec, numClasses: 4, gradCheckpoint: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TrainingMemoryError);
    const e = err as TrainingMemoryError;
    expect(e.neededBytes).toBeGreaterThan(e.limitBytes);
    expect(e.largestBatch).toBeGreaterThan(1);
    expect(e.largestBatch).toBeLessThan(1_000_000);
    expect(e.message).toMatch(/^a training step of van_fmnist on 28x28 images at batch 1000000 needs about [\d.]+ GiB of tensors \([\d.]+ [KMG]iB per image\), more than the wasm backend's 4 GiB heap holds/);
    expect(e.message).toContain('--grad-checkpoint');
    expect(e.message).toMatch(/--batch-size \d+ --accum-steps \d+/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it("'auto' takes the plain step when it fits and checkpointing when only that fits", () => {
    const GIB = 2 ** 30;
    // Probe peaks: 0.2 GiB + 1 GiB per image plain, 0.2 GiB + 0.1 GiB per image checkpointed.
    const probe = (b: number, ck: boolean) => 0.2 * GIB + b * (ck ? 0.1 : 1) * GIB;
    const plan = (batchSize: number, mode: boolean | 'auto') => planStepMemory({ what: 'm', batchSize, mode, canCheckpoint: true, fixedBytes: 0, queuedBytesPerImage: 0, probe });
    const small = plan(1, 'auto')!;
    expect(small.checkpointing).toBe(false);
    expect(small.stepBytes / GIB).toBeCloseTo(1.2, 6);
    const large = plan(8, 'auto')!;
    expect(large.checkpointing).toBe(true);
    expect(large.stepBytes / GIB).toBeCloseTo(1.0, 6);
    expect(large.plainBytes! / GIB).toBeCloseTo(8.2, 6);
    expect(plan(1, true)!.checkpointing).toBe(true);
    expect(() => plan(8, false)).toThrow(/turn on gradient checkpointing/);
    // 2.3 GiB of tensors fit in the 4 GiB heap: 20 images checkpointed; 100 = 5 x 20.
    expect(() => plan(100, 'auto')).toThrow(/even with gradient checkpointing \(102 MiB per image\).*--batch-size 20 --accum-steps 5/);
  });

  it('vizoo train says so in one line instead of crashing', async () => {
    const out = mkdtempSync(join(tmpdir(), 'vizoo-trainmem-'));
    const r = await runCli(['train', '--model', 'van_fmnist', '--data', 'synthetic:shapes:16', '--batch-size', '1000000', '--epochs', '1', '--no-eval', '--no-grad-checkpoint', '--out', out]);
    expect(r.code).not.toBe(0);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('vizoo: error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/batch 1000000 needs about .*--grad-checkpoint/);
    expect(r.stderr).not.toMatch(/Aborted|RuntimeError|at .*\.js:\d+/);
  });
});
