// The ViT with a choice of token mixer: keys, what the pooled features see, other input sizes, and a few
// training steps on synthetic:shapes for every mixer (one block, 32x32 inputs, 5 tokens).
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backbone, SyntheticShapes, createModel, fit, inputSpecFor, listTokenMixers, loadModel, saveWeights, tf } from '../../src/index.js';
import type { VisionTransformer } from '../../src/models/vit.js';

const small = (mixer: string, extra: Record<string, unknown> = {}) => createModel('vit_tiny', { mixer, depths: [2], imgSize: 64, numClasses: 4, seed: 2, ...extra }) as VisionTransformer;

describe('ViT token mixers', () => {
  it("vit_small's default mixer has timm's DeiT-S keys; another mixer swaps only the attn keys, for its official ones", () => {
    const keys = (m: Backbone) => m.stateDictInfo().map((e) => `${e.key} [${e.shape}]`);
    const deit = keys(createModel('vit_small', { init: false }));
    expect(deit.slice(0, 8)).toEqual([
      'cls_token [1,1,384]',
      'pos_embed [1,197,384]',
      'patch_embed.proj.weight [384,3,16,16]',
      'patch_embed.proj.bias [384]',
      'blocks.0.norm1.weight [384]',
      'blocks.0.norm1.bias [384]',
      'blocks.0.attn.qkv.weight [1152,384]',
      'blocks.0.attn.qkv.bias [1152]',
    ]);
    expect(deit.slice(-4)).toEqual(['norm.weight [384]', 'norm.bias [384]', 'head.weight [1000,384]', 'head.bias [1000]']);
    expect(createModel('vit_small', { init: false }).numParams()).toBe(22050664); // timm deit_small_patch16_224
    const tnl = keys(createModel('vit_small', { mixer: 'lightning2', init: false }));
    expect(tnl.filter((k) => k.startsWith('blocks.0.attn.'))).toEqual([
      'blocks.0.attn.q_proj.weight [384,384]',
      'blocks.0.attn.k_proj.weight [384,384]',
      'blocks.0.attn.v_proj.weight [384,384]',
      'blocks.0.attn.o_proj.weight [384,384]',
      'blocks.0.attn.norm.weight [384]',
      'blocks.0.attn.norm.bias [384]',
      'blocks.0.attn.output_gate.0.weight [64,384]',
      'blocks.0.attn.output_gate.1.weight [384,64]',
    ]);
    expect(tnl.filter((k) => !k.includes('.attn.'))).toEqual(deit.filter((k) => !k.includes('.attn.')));
  });

  it('the hybrid TransNormer puts DiagAttention in the first half of the blocks and NormAttention in the rest', () => {
    const m = createModel('vit_tiny', { mixer: 'transnormer', depths: [4], init: false });
    const attn = (i: number) => m.stateDictInfo().filter((e) => e.key.startsWith(`blocks.${i}.attn.`)).map((e) => e.key.split('.').slice(3).join('.'));
    expect(attn(1)).not.toContain('layer_norm.norm.weight');
    expect(attn(2)).toContain('layer_norm.norm.weight');
  });

  it('an unknown mixer is an error that lists the mixers', () => {
    expect(() => createModel('vit_tiny', { mixer: 'flash' })).toThrow(/unknown token mixer 'flash' \(one of softmax, transnormer_norm, .*based, lightning2/);
  });

  for (const mixer of listTokenMixers()) {
    it(`${mixer}: the pooled features depend on the last patch, and other input sizes resample the position grid`, async () => {
      const m = small(mixer).eval();
      const x = tf.randomNormal([2, 64, 64, 3], 0, 1, 'float32', 3);
      // Change only the bottom-right patch: the last token in raster order.
      const patched = tf.add(x, tf.pad(tf.ones([2, 16, 16, 3]), [[0, 0], [48, 0], [48, 0], [0, 0]]));
      const [a, b] = [m.forwardFeatures(x), m.forwardFeatures(patched)];
      expect(a.shape).toEqual([2, 192]);
      expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBeGreaterThan(1e-3);
      const maps = m.forwardIntermediates(tf.randomNormal([1, 96, 64, 3]));
      expect(maps[0]!.shape).toEqual([1, 6, 4, 192]);
      expect(() => m.forward(tf.zeros([1, 60, 64, 3]))).toThrow(/input 60x64 is not a multiple of the patch size 16/);
      tf.dispose([x, patched, a, b, ...maps]);
      m.dispose();
    });
  }

  it('every mixer ViT trains: a few steps on synthetic:shapes (one fixed batch) lower the loss', async () => {
    for (const mixer of listTokenMixers()) {
      const model = small(mixer, { depths: [1], imgSize: 32 });
      const spec = { ...inputSpecFor(model.pretrainedCfg), height: 32, width: 32 };
      const losses: number[] = [];
      await fit(model, new SyntheticShapes(8, 32, 0), {
        epochs: 4, batchSize: 8, spec, numClasses: 4, lr: 1e-3, logInterval: 1, augment: { scale: null, hflip: 0 },
        callbacks: { onStep: (s) => losses.push(s.loss) },
      });
      expect(losses, mixer).toHaveLength(4);
      expect(losses.every(Number.isFinite), mixer).toBe(true);
      expect(losses[3]!, mixer).toBeLessThan(losses[0]!);
      model.dispose();
    }
  });

  it('weights record their mixer: loading them builds the same mixer without being told', async () => {
    const model = small('based');
    const file = join(mkdtempSync(join(tmpdir(), 'vizoo-mixer-')), 'based.safetensors');
    await saveWeights(model, file);
    const loaded = loadModel('vit_tiny', { weights: file, depths: [2] }) as unknown as VisionTransformer;
    expect(loaded.mixer.name).toBe('based');
    expect(loaded.pretrainedCfg.mixer).toBe('based');
    const x = tf.randomNormal([1, 64, 64, 3], 0, 1, 'float32', 3);
    const [a, b] = [model.forward(x), loaded.forward(x)];
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    tf.dispose([x, a, b]);
    model.dispose();
    loaded.dispose();
  });
});
