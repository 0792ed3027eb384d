// NAT / DiNAT / DiNAT_s / isotropic and EET beyond the parity outputs: the fixtures' debug intermediates,
// other shapes and batch sizes, feature pyramids, and EET pruning invariants.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { readSafetensors } from '../../src/hub/weight_files.js';
import { toFloat32 } from '../../src/hub/host_tensor.js';
import { createModel } from '../../src/models/index.js';
import { NAT, type NatConfig } from '../../src/models/nat.js';
import { DiNATs } from '../../src/models/dinat_s.js';
import { EETAttention, EETViT, EET_STUDENT_PRUNING, pruneTokens } from '../../src/models/eet.js';
import { setFusedInference } from '../../src/kernels/inference.js';
import { TOKEN_SCORE } from '../../src/kernels/token_score.js';
import { NATLayer } from '../../src/blocks/neighborhood_attention.js';
import { setNeighborhoodAttentionImpl } from '../../src/kernels/neighborhood_attention.js';
import { PARITY } from '../paths.js';

const DIR = join(PARITY, 'local_sparse');

function fixture(name: string) {
  const file = readSafetensors(join(DIR, `${name}.safetensors`)).tensors;
  const weights = new Map([...file].filter(([k]) => !k.startsWith('__')));
  const get = (k: string) => {
    const h = file.get(k);
    if (!h) throw new Error(`${name} has no ${k}`);
    return tf.tensor(toFloat32(h), h.shape);
  };
  return { weights, get };
}

function maxAbs(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

const nchw = (t: tf.Tensor) => tf.transpose(t, [0, 2, 3, 1]);

describe('NAT family', () => {
  it('reproduces the official per-level outputs of NAT and DiNAT (fixture debug tensors)', () => {
    for (const [name, cfg] of [
      ['nat_tiny_model', { embedDim: 16, mlpRatio: 2, depths: [2, 2], numHeads: [2, 4], kernelSize: 7, numClasses: 10 }],
      ['dinat_tiny_model', { embedDim: 16, mlpRatio: 2, depths: [2, 2], numHeads: [2, 4], kernelSize: 3, dilations: [[1, 4], [1, 2]], layerScale: 1e-5, numClasses: 10 }],
    ] as [string, NatConfig][]) {
      const f = fixture(name);
      const m = new NAT(cfg);
      m.loadStateDict(f.weights);
      m.eval();
      tf.tidy(() => {
        const levels = m.forwardLevels(nchw(f.get('__input__')));
        expect(maxAbs(levels[0]!, f.get('__debug_patch_embed__'))).toBeLessThan(1e-4);
        expect(maxAbs(levels[1]!, f.get('__debug_level0__'))).toBeLessThan(1e-4);
        expect(maxAbs(levels[2]!, f.get('__debug_level1__'))).toBeLessThan(1e-4);
      });
      m.dispose();
    }
  });

  it('reproduces the official per-layer outputs of DiNAT_s', () => {
    const f = fixture('dinats_tiny_model');
    const m = new DiNATs({ embedDim: 16, depths: [2, 2], numHeads: [2, 4], kernelSize: 3, dilations: [[1, 4], [1, 2]], numClasses: 10 });
    m.loadStateDict(f.weights);
    m.eval();
    tf.tidy(() => {
      const levels = m.forwardLevels(nchw(f.get('__input__')));
      expect(maxAbs(levels[0]!, f.get('__debug_patch_embed__'))).toBeLessThan(1e-4);
      expect(maxAbs(levels[1]!, f.get('__debug_layer0__'))).toBeLessThan(1e-4);
      expect(maxAbs(levels[2]!, f.get('__debug_layer1__'))).toBeLessThan(1e-4);
    });
    m.dispose();
  });

  it('runs odd, non-square inputs in a batch of 2 exactly as two single images, fused == composite', () => {
    const m = new NAT({ embedDim: 16, mlpRatio: 2, depths: [1, 1, 1], numHeads: [1, 2, 4], kernelSize: 3, dilations: [[2], [1], [1]], layerScale: 0.5, numClasses: 5 }).initialize(3).eval();
    tf.tidy(() => {
      // 70x90 -> tokenizer 18x23 -> 9x12 -> 5x6
      const x = tf.randomNormal([2, 70, 90, 3], 0, 1, 'float32', 7);
      const both = m.forward(x);
      expect(both.shape).toEqual([2, 5]);
      const one = tf.concat([m.forward(tf.slice(x, [0, 0, 0, 0], [1, -1, -1, -1])), m.forward(tf.slice(x, [1, 0, 0, 0], [1, -1, -1, -1]))]);
      expect(maxAbs(both, one)).toBeLessThan(1e-5);
      setNeighborhoodAttentionImpl('composite');
      try {
        expect(maxAbs(m.forward(x), both)).toBeLessThan(1e-5);
      } finally {
        setNeighborhoodAttentionImpl('auto');
      }
      const maps = m.forwardIntermediates(x);
      expect(maps.map((t) => t.shape)).toEqual([
        [2, 18, 23, 16],
        [2, 9, 12, 32],
        [2, 5, 6, 64],
      ]);
      expect(m.featureInfo.map((f) => f.reduction)).toEqual([4, 8, 16]);
    });
    m.dispose();
  });

  it('layer scale multiplies the residual branches (gamma = 0 makes the layer the identity)', () => {
    const layer = new NATLayer({ dim: 8, numHeads: 2, kernelSize: 3, layerScale: 0 }).initialize(1).eval();
    tf.tidy(() => {
      const x = tf.randomNormal([1, 5, 6, 8], 0, 1, 'float32', 2);
      expect(maxAbs(layer.forward(x), x)).toBe(0);
    });
    layer.dispose();
  });

  it('builds features-only pyramids for the registered hierarchical variants', () => {
    const m = createModel('dinat_s_tiny', { features: true, init: false });
    expect(m.featureInfo.map((f) => [f.channels, f.reduction])).toEqual([
      [96, 4],
      [192, 8],
      [384, 16],
      [768, 32],
    ]);
    expect(m.stateDictInfo().some((e) => e.key.startsWith('head'))).toBe(false);
  });
});

describe('EET', () => {
  it('the token score is one kernel at inference and equals the composite (batch 2, 3 heads, 9 tokens)', async () => {
    const attn = new EETAttention(12, 3, true).initialize(7).eval();
    const x = tf.randomNormal([2, 9, 12], 0, 1, 'float32', 8);
    const run = (fused: boolean) => {
      setFusedInference(fused);
      const { out, score } = attn.forward(x);
      setFusedInference(true);
      out.dispose();
      return score;
    };
    const [f, c] = [run(true), run(false)];
    expect(f.shape).toEqual([2, 8]);
    expect(maxAbs(f, c)).toBeLessThan(1e-6);
    const info = await tf.profile(() => tf.dispose(Object.values(attn.forward(x))));
    expect(info.kernels.filter((k) => k.name === TOKEN_SCORE)).toHaveLength(1);
    tf.dispose([x, f, c]);
    attn.dispose();
  });

  it('reproduces the official stage scores, original patch ids and sign codes (fixture debug tensors)', () => {
    const f = fixture('eet_tiny_model');
    const m = new EETViT({ imgSize: 80, patchSize: 8, embedDim: 32, depth: 10, numHeads: 2, numClasses: 10, hashBits: 16, pruning: EET_STUDENT_PRUNING });
    m.loadStateDict(f.weights);
    m.eval();
    tf.tidy(() => {
      const o = m.forwardAll(nchw(f.get('__input__')));
      // Map each stage's indices back to row-major patch ids by composing the stages.
      let ids = tf.reshape(tf.range(0, 100, 1, 'int32'), [1, 100]);
      o.keptIndices.forEach((idx, s) => {
        expect(maxAbs(o.stageScores[s]!, f.get(`__debug_stage${s + 1}_score__`))).toBeLessThan(1e-5);
        ids = tf.gather(ids, idx, 1, 1);
        expect(Array.from(ids.dataSync())).toEqual(Array.from(f.get(`__debug_stage${s + 1}_original_patch_ids__`).dataSync()));
      });
      expect(Array.from(tf.sign(o.hash).dataSync())).toEqual(Array.from(f.get('__debug_sign_hash__').dataSync()));
    });
    m.dispose();
  });

  it('keeping every token only reorders them: the student then equals the teacher', async () => {
    const cfg = { imgSize: 32, patchSize: 8, embedDim: 16, depth: 4, numHeads: 2, numClasses: 6, hashBits: 8 };
    const teacher = new EETViT(cfg).initialize(4).eval();
    const student = new EETViT({ ...cfg, pruning: { after: [0, 2], keep: [16, 16] } });
    student.loadStateDict(await teacher.stateDict());
    student.eval();
    tf.tidy(() => {
      const x = tf.randomNormal([2, 32, 32, 3], 0, 1, 'float32', 5);
      const s = student.forwardAll(x);
      const t = teacher.forwardHash(x);
      expect(maxAbs(s.logits, t.logits)).toBeLessThan(1e-5);
      expect(maxAbs(s.hash, t.hash)).toBeLessThan(1e-5);
      // The indices sort the scores in descending order.
      const sc = s.stageScores[0]!.arraySync() as number[][];
      const ix = s.keptIndices[0]!.arraySync() as number[][];
      ix.forEach((row, b) => row.slice(1).forEach((v, i) => expect(sc[b]![row[i]!]!).toBeGreaterThanOrEqual(sc[b]![v]!)));
    });
    teacher.dispose();
    student.dispose();
  });

  it('pruning keeps CLS first and gathers each sample by its own indices', () => {
    tf.tidy(() => {
      const x = tf.tensor3d([[[0], [1], [2], [3]], [[10], [11], [12], [13]]]);
      const score = tf.tensor2d([[0.1, 0.9, 0.5], [0.7, 0.2, 0.3]]);
      const { tokens, indices } = pruneTokens(x, score, 2);
      expect(indices.arraySync()).toEqual([[1, 2], [0, 2]]);
      expect(tokens.arraySync()).toEqual([[[0], [2], [3]], [[10], [11], [13]]]);
      expect(() => pruneTokens(x, score, 4)).toThrow(/cannot keep 4/);
      // d sum(w * kept) / dx puts w back on the kept rows (and CLS); pruned rows and the score get nothing.
      const w = tf.tensor3d([[[1], [2], [3]], [[4], [5], [6]]]);
      const [dx, ds] = tf.grads((a: tf.Tensor, s: tf.Tensor) => tf.sum(tf.mul(pruneTokens(a, s, 2).tokens, w)))([x, score]);
      expect(dx!.arraySync()).toEqual([[[1], [0], [2], [3]], [[4], [5], [0], [6]]]);
      expect(ds!.arraySync()).toEqual([[0, 0, 0], [0, 0, 0]]);
    });
  });

  it('refuses input sizes other than img_size, as the official PatchEmbed asserts', () => {
    const m = new EETViT({ imgSize: 32, patchSize: 8, embedDim: 8, depth: 1, numHeads: 2, numClasses: 3 }).initialize(0);
    expect(() => m.forward(tf.zeros([1, 40, 32, 3]))).toThrow(/input image size 40x32 doesn't match the model's img_size 32x32/);
    m.dispose();
  });

  it('trains through the pruning (gradients reach every parameter on cpu)', async () => {
    const { useBackend } = await import('../../src/backend/index.js');
    await useBackend('cpu');
    try {
      const m = new EETViT({ imgSize: 40, patchSize: 8, embedDim: 8, depth: 3, numHeads: 2, numClasses: 3, hashBits: 4, pruning: { after: [0, 1], keep: [12, 5] } }).initialize(1);
      const vars = m.parameters().map((p) => p.value);
      const { grads } = tf.variableGrads(() => {
        const o = m.forwardAll(tf.randomNormal([2, 40, 40, 3], 0, 1, 'float32', 3));
        return tf.add(tf.sum(tf.square(o.logits)), tf.sum(tf.square(o.hash))) as tf.Scalar;
      }, vars);
      for (const v of vars) expect(tf.tidy(() => tf.sum(tf.abs(grads[v.name]!)).dataSync()[0]!), v.name).toBeGreaterThan(0);
      tf.dispose(Object.values(grads));
      m.dispose();
    } finally {
      await useBackend(process.env.VIZOO_TEST_BACKEND ?? 'wasm');
    }
  });
});
