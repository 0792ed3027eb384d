// Input sizes: img_size as an int or [H, W] where the official constructor takes it, timm's position-embedding
// resampling when weights of another size load, the refusal for models whose weights cannot change size,
// and LITv2's dense-prediction maps on odd image sizes.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { F, FeatureModel, InputSizeError, createModel, loadModel, resampleAbsPosEmbed, saveWeights, tf, type Backbone } from '../../src/index.js';
import { LITv2 } from '../../src/models/litv2.js';
import { VisionTransformerKArAt } from '../../src/models/karat.js';
import { canonicalClassName, findParityBuilder } from '../../src/parity/registry.js';
import { runCli } from '../helpers/cli.js';
import { ROOT } from '../paths.js';

const dir = mkdtempSync(join(tmpdir(), 'vizoo-imgsize-'));
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-6) => {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  expect(worst).toBeLessThanOrEqual(tol);
};

describe('resampleAbsPosEmbed (timm: bicubic with antialias, prefix tokens apart)', () => {
  // 2 -> 3 samples at centres (i + 0.5) * 2/3 = 1/3, 1, 5/3 with Keys' cubic (A = -0.5) over the taps inside the
  // input, normalized: output 0 gets raw weights k(1/6) = 15/16 and k(7/6) = -25/432, i.e. 81/76 and -5/76;
  // output 1 sits between the two taps (1/2, 1/2); output 2 mirrors output 0. So on [0, 1] a row gives
  // p = [-5/76, 1/2, 81/76].
  const p = [-5 / 76, 1 / 2, 81 / 76];

  it('upsamples a 2x2 grid to 3x3 as hand-derived, keeping the cls token', () => {
    // Channel 0 is the plane 1 + 2h + w, channel 1 a delta at (h, w) = (0, 1); the cls token is (7, -7).
    const plane = [1, 2, 3, 4];
    const delta = [0, 1, 0, 0];
    const data = Float32Array.from([7, -7, ...plane.flatMap((v, i) => [v, delta[i]!])]);
    const out = resampleAbsPosEmbed(data, 2, [2, 2], [3, 3], 1);
    expect(out.length).toBe((1 + 9) * 2);
    close(out.subarray(0, 2), [7, -7]);
    const m = [[81 / 76, -5 / 76], [1 / 2, 1 / 2], [-5 / 76, 81 / 76]];
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 3; j++) {
        expect(out[2 + (i * 3 + j) * 2]).toBeCloseTo(1 + 2 * p[i]! + p[j]!, 6);
        expect(out[2 + (i * 3 + j) * 2 + 1]).toBeCloseTo(m[i]![0]! * m[j]![1]!, 6);
      }
    expect(out[2]).toBeCloseTo(61 / 76, 6);
  });

  it('downsamples 1x5 -> 1x3 with the kernel stretched by 5/3 (hand-derived)', () => {
    // Output 0: centre 5/6, support 10/3, taps 0..3 at (j - 1/3) * 3/5: weights 0.912, 0.696, 0, -0.048
    // (sum 1.56), so 0..4 maps to (0.696 - 0.144) / 1.56 = 23/65; output 1 is the centre 2; output 2 mirrors.
    const out = resampleAbsPosEmbed(Float32Array.from([0, 1, 2, 3, 4]), 1, [1, 5], [1, 3], 0);
    close(out, [23 / 65, 2, 4 - 23 / 65], 1e-6);
  });

  it('is the identity at the same grid and keeps constants', () => {
    const x = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i));
    close(resampleAbsPosEmbed(x, 3, [2, 2], [2, 2], 0), x);
    close(resampleAbsPosEmbed(new Float32Array(2 * 9).fill(0.25), 2, [3, 3], [5, 4], 0), new Float32Array(2 * 20).fill(0.25));
  });

  it('its 1-D weights differ from the plain bicubic (A = -0.75, edge replication) of F.resizeBicubic', () => {
    const aa = F.bicubicAntialiasMatrix(2, 3);
    const plain = F.bicubicMatrix(2, 3);
    close(aa, [81 / 76, -5 / 76, 0.5, 0.5, -5 / 76, 81 / 76]);
    expect(Math.abs(plain[0]! - aa[0]!)).toBeGreaterThan(0.01);
  });
});

describe('imgSize', () => {
  it('sets every model\'s input size and is checked', () => {
    expect(createModel('van_b0', { init: false, imgSize: [320, 256] }).pretrainedCfg.inputSize).toEqual([3, 320, 256]);
    expect(createModel('litv2_s', { init: false, imgSize: 384 }).pretrainedCfg.inputSize).toEqual([3, 384, 384]);
    expect(() => createModel('van_b0', { init: false, imgSize: [320, 0] })).toThrow(/imgSize must be a positive integer or \[height, width\]/);
  });

  it('EET: [H, W] sets the patch grid and pos_embed; pruning keeps the official 98 / 49 / 12 tokens', () => {
    const m = createModel('eet_vit_small_cub_16bit', { init: false, imgSize: [176, 160], depths: [10] });
    expect(m.stateDictInfo().find((e) => e.key === 'pos_embed')!.shape).toEqual([1, 11 * 10 + 1, 384]);
    expect((m as unknown as { pruning: { keep: number[] } }).pruning.keep).toEqual([98, 49, 12]);
    expect(m.pretrainedCfg.inputSize).toEqual([3, 176, 160]);
  });

  it('KArAt: the token count of every operator follows [H, W]; the forward is the blocks composed by hand', () => {
    const m = createModel('karat_vit_tiny_g1b', { imgSize: [48, 32], depths: [1], numClasses: 4, seed: 3 }).eval() as VisionTransformerKArAt;
    expect(m.numTokens).toBe(3 * 2 + 1);
    expect(m.stateDictInfo().find((e) => e.key === 'blocks.0.attn.karat.proj_weight')!.shape).toEqual([3, 7, 12]);
    const x = tf.randomNormal([2, 48, 32, 3], 0, 1, 'float32', 5);
    const y = m.forward(x);
    const ref = tf.tidy(() => {
      const patches = tf.reshape(m.patch_embed.proj.forward(x), [2, 6, 192]);
      let t = tf.add(tf.concat([tf.tile(m.cls_token.value, [2, 1, 1]), patches], 1), m.pos_embed.value);
      t = m.norm.forward(m.blocks.items[0]!.forward(t));
      return m.head.forward(tf.reshape(tf.slice(t, [0, 0, 0], [2, 1, 192]), [2, 192]));
    });
    close(y.dataSync(), ref.dataSync(), 1e-5);
    const [map] = m.forwardIntermediates(x);
    expect(map!.shape).toEqual([2, 3, 2, 192]);
    expect(() => m.forward(tf.zeros([1, 32, 48, 3]))).toThrow(/input image size 32x48 doesn't match the model's img_size 48x32/);
    tf.dispose([x, y, ref, map!]);
    m.dispose();
  });

  it('ViG and isotropic NAT: non-square grids', () => {
    const vig = createModel('vig_t', { init: false, imgSize: [96, 64], depths: [1] });
    expect(vig.stateDictInfo().find((e) => e.key === 'pos_embed')!.shape).toEqual([1, 6 * 4, 192]);
    const nat = createModel('nat_isotropic_small', { imgSize: [176, 128], depths: [1], seed: 1 }).eval();
    const out = nat.forward(tf.zeros([1, 176, 128, 3]));
    expect(out.shape).toEqual([1, 1000]);
    expect(() => nat.forward(tf.zeros([1, 128, 176, 3]))).toThrow(/input gives a 8x11 patch grid, the model needs 11x8/);
    out.dispose();
    nat.dispose();
  });
});

/** A model saved at its default size (224px), for loading at another. */
async function saved(name: string, opts: Record<string, unknown>): Promise<{ file: string; model: Backbone }> {
  const model = createModel(name, { seed: 2, ...opts });
  const file = join(dir, `${name}.safetensors`);
  await saveWeights(model, file);
  return { file, model };
}

describe('loading weights of another input size', () => {
  it('ViG: pos_embed is resampled to the new grid as timm would; the model runs there', async () => {
    const { file, model } = await saved('vig_t', { depths: [1] });
    const m = loadModel('vig_t', { weights: file, imgSize: [96, 64], depths: [1] });
    const want = resampleAbsPosEmbed(model.stateEntries().find(([k]) => k === 'pos_embed')![1].value.dataSync() as Float32Array, 192, [14, 14], [6, 4], 0);
    close(m.stateEntries().find(([k]) => k === 'pos_embed')![1].value.dataSync(), want, 1e-6);
    // Everything else is the saved weights.
    close(m.stateEntries().find(([k]) => k === 'head.weight')![1].value.dataSync(), model.stateEntries().find(([k]) => k === 'head.weight')![1].value.dataSync(), 0);
    const y = m.forward(tf.zeros([1, 96, 64, 3]));
    expect(y.shape).toEqual([1, 1000]);
    tf.dispose(y);
    m.dispose();
    model.dispose();
  });

  for (const [name, depths] of [
    ['eet_vit_small_cub_16bit', [1]],
    ['karat_vit_tiny_g1b', [1]],
  ] as const) {
    it(`${name}: refused with the reason`, async () => {
      const { file, model } = await saved(name, { depths: [...depths] });
      const load = () => loadModel(name, { weights: file, imgSize: [160, 160], depths: [...depths] });
      expect(load).toThrow(InputSizeError);
      expect(load).toThrow(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: pos_embed holds 196 patch tokens but ${name} is built for 100 \\(a 10x10 grid\\): ${name} cannot change input size after training`));
      model.dispose();
    });
  }
});

describe('LITv2 as a dense-prediction backbone', () => {
  // Patch embed: ceil(size / 4) (zero-padded); each DTM floors odd sizes: 333x517 -> 84x130, 42x65, 21x32, 10x16.
  const grids = (h: number, w: number) => [0, 1, 2, 3].map((i) => [Math.floor(Math.ceil(h / 4) / 2 ** i), Math.floor(Math.ceil(w / 4) / 2 ** i)]);
  expect(grids(333, 517)).toEqual([[84, 130], [42, 65], [21, 32], [10, 16]]);
  const cases: [string, () => FeatureModel, number, number, number][] = [
    ["createModel('litv2_s', { features: true })", () => createModel('litv2_s', { features: true, depths: [1, 1, 1, 1], seed: 1 }), 333, 517, 96],
    // Widths do not change the grid: a narrow LITv2 keeps the larger image fast.
    ['a narrow LITv2', () => new FeatureModel(new LITv2({ embedDim: 4, depths: [1, 1, 1, 1], numHeads: [1, 1, 2, 2], alpha: 0.9, localWs: [0, 0, 2, 1] })).initialize(1), 800, 1216, 4],
  ];
  for (const [what, build, h, w, c] of cases) {
    it(`${what} returns the four stage maps of a ${h}x${w} image (padded and floored as the official detection code)`, () => {
      const fm = build().eval();
      const maps = fm.forward(tf.zeros([1, h, w, 3]));
      expect(maps.map((m) => m.shape)).toEqual(grids(h, w).map(([gh, gw], i) => [1, gh, gw, c * 2 ** i]));
      tf.dispose(maps);
      fm.dispose();
    });
  }
});

describe('parity builders are keyed by class names without annotations', () => {
  it('strips parenthesized notes and a cut-off description', () => {
    expect(canonicalClassName('forward (top-k=8)')).toBe('forward');
    expect(canonicalClassName('forward)')).toBe('forward');
    expect(canonicalClassName('DiNAT (subclass of NAT)')).toBe('DiNAT');
    expect(canonicalClassName('VisionTransformer (EET student (pruning))')).toBe('VisionTransformer');
  });

  it('finds EET pruning for any k and reads k from the kwargs', () => {
    const b = findParityBuilder('', 'forward (top-k=3)', 'model/vit.py')!;
    const target = b({ kwargs: { k: 3 }, forwardKwargs: {}, parityCase: {} as never });
    const x = tf.tensor3d([[[0], [1], [2], [3], [4], [5]]]);
    const [tokens, idx] = target.run([x, tf.tensor2d([[0.1, 0.5, 0.2, 0.9, 0.3]])]) as tf.Tensor[];
    expect(Array.from(idx!.dataSync())).toEqual([3, 1, 4]);
    expect(Array.from(tokens!.dataSync())).toEqual([0, 4, 2, 5]);
  });
});

describe('--img-size', () => {
  it('vizoo info shows the model built for it and whether weights serve other sizes', async () => {
    const r = await runCli(['info', 'karat_vit_tiny_g1b', '--img-size', '48x32', '--json']);
    const info = JSON.parse(r.stdout) as { config: { inputSize: number[] }; other_input_sizes: { kind: string } };
    expect(info.config.inputSize).toEqual([3, 48, 32]);
    expect(info.other_input_sizes.kind).toBe('fixed');
    const text = await runCli(['info', 'vig_s']);
    expect(text.stdout).toMatch(/other sizes {3}resampled on load: pos_embed/);
  });

  it('a model that cannot change size refuses other-size weights in one line; a bad size is named', async () => {
    const { file, model } = await saved('eet_vit_small_cub_16bit', { depths: [1] });
    model.dispose();
    const r = await runCli(['classify', join(ROOT, 'assets', 'samples', 'ankle_boot.png'), '--weights', file, '--img-size', '160']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^vizoo: error: .*eet_vit_small_cub_16bit\.safetensors: pos_embed holds 196 patch tokens but eet_vit_small_cub_16bit is built for 100 \(a 10x10 grid\): .* cannot change input size after training: .*\n$/);
    const bad = await runCli(['info', 'van_b0', '--img-size', '12x']);
    expect(bad.stderr).toBe("vizoo: error: --img-size must be SIZE or HEIGHTxWIDTH (e.g. 384 or 448x320), got '12x'\n");
  });
});
