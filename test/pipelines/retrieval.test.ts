// Hash retrieval: ranking and mAP@k semantics, and `vizoo embed` / `vizoo retrieve` end to end on a synthetic
// labelled image set. The EET ViT-S keeps its seeded random backbone; only its class and hash heads are trained
// (300 Adam steps on the cached CLS features of the database images, EET's teacher objective with one target
// code per class). Colour classes already cluster under random heads, so the test also demands what only the
// training gives: every held-out query gets exactly its class's code (its own class at Hamming distance 0).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tf } from '../../src/tf.js';
import { createModel } from '../../src/models/index.js';
import { EETViT } from '../../src/models/eet.js';
import { Rng } from '../../src/nn/rng.js';
import { writeSafetensors } from '../../src/hub/weight_files.js';
import { evalTransformFor, loadEvalImage } from '../../src/data/image.js';
import { eetTeacherLoss, trainCodes } from '../../src/train/hashing_losses.js';
import { type CodeEntry, hammingRank, meanAveragePrecision, rankDatabase } from '../../src/pipelines/retrieval.js';
import { embedImages, listImageFolder } from '../../src/pipelines/files.js';
import { CLI } from '../paths.js';
import { exportOnnx } from '../../src/onnx/export.js';
import { createOrtSession, runSession } from '../../src/onnx/runtime.js';

const entry = (file: string, label: string | null, code: string): CodeEntry => ({ file, label, code });

describe('ranking and mAP', () => {
  it('ranks by Hamming distance, ties in database order', () => {
    const db = [entry('a', 'x', '0011'), entry('b', 'y', '0111'), entry('c', 'x', '1100'), entry('d', 'y', '0011')];
    expect(hammingRank('0011', db)).toEqual([
      { index: 0, distance: 0 },
      { index: 3, distance: 0 },
      { index: 1, distance: 1 },
      { index: 2, distance: 4 },
    ]);
  });

  it('computes mAP@k as calc_map_k (ranks of the first min(k, #relevant) relevant items over the full ranking)', () => {
    const db = [entry('a', 'x', '000'), entry('b', 'y', '001'), entry('c', 'x', '011'), entry('d', 'x', '111')];
    // Query label x at 000: ranking a(0) b(1) c(2) d(3): relevant at ranks 1, 3, 4.
    const q = [entry('q', 'x', '000')];
    expect(meanAveragePrecision(q, db)).toBeCloseTo((1 / 1 + 2 / 3 + 3 / 4) / 3, 10);
    expect(meanAveragePrecision(q, db, 2)).toBeCloseTo((1 / 1 + 2 / 3) / 2, 10);
    // A query without relevant items counts as 0 in the mean.
    expect(meanAveragePrecision([...q, entry('r', 'z', '000')], db, 2)).toBeCloseTo((1 + 2 / 3) / 2 / 2, 10);
    // Leave-one-out excludes the query's own entry.
    expect(meanAveragePrecision([db[0]!], db, undefined, (_, d) => d === 0)).toBeCloseTo((1 / 2 + 2 / 3) / 2, 10);
  });
});

const CLASSES: [string, [number, number, number]][] = [
  ['red', [200, 40, 40]],
  ['green', [40, 170, 60]],
  ['blue', [40, 60, 200]],
];

/** A class colour with jitter, a random light or dark rectangle and pixel noise. */
async function render(path: string, rgb: [number, number, number], rng: Rng): Promise<void> {
  const size = 96;
  const data = Buffer.alloc(size * size * 3);
  const jitter = rgb.map((c) => c + (rng.uniform() - 0.5) * 40);
  const [x0, y0] = [rng.int(60), rng.int(60)];
  const [w, h] = [12 + rng.int(24), 12 + rng.int(24)];
  const shade = rng.uniform() < 0.5 ? 30 : 230;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inRect = x >= x0 && x < x0 + w && y >= y0 && y < y0 + h;
      for (let c = 0; c < 3; c++) data[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round((inRect ? shade : jitter[c]!) + (rng.uniform() - 0.5) * 30)));
    }
  }
  await sharp(data, { raw: { width: size, height: size, channels: 3 } }).png().toFile(path);
}

describe('EET hash retrieval on a synthetic labelled set', () => {
  const root = mkdtempSync(join(tmpdir(), 'vizoo-retrieval-'));
  const dbDir = join(root, 'database');
  const queryDir = join(root, 'queries');
  const weights = join(root, 'eet_heads.safetensors');
  const codeFile = join(root, 'database_codes.json');
  let model: EETViT;

  beforeAll(async () => {
    const rng = new Rng(11);
    for (const [name, rgb] of CLASSES) {
      mkdirSync(join(dbDir, name), { recursive: true });
      mkdirSync(join(queryDir, name), { recursive: true });
      for (let i = 0; i < 2; i++) await render(join(dbDir, name, `${i}.png`), rgb, rng);
      await render(join(queryDir, name, 'q0.png'), rgb, rng);
    }
    model = createModel('eet_vit_small_cub_16bit', { numClasses: CLASSES.length, seed: 0 }) as EETViT;
    model.eval();
    // Cached CLS features of the database images (the backbone stays at its seeded init).
    const images = listImageFolder(dbDir);
    const t = evalTransformFor(model.pretrainedCfg);
    const pixels = await Promise.all(images.map((im) => loadEvalImage(im.file, t)));
    const x = tf.tensor4d(Float32Array.from(pixels.flatMap((p) => Array.from(p))), [images.length, 224, 224, 3]);
    const features = tf.tidy(() => model.forwardFeatures(x));
    x.dispose();
    const labels = tf.tensor1d(
      images.map((im) => CLASSES.findIndex(([n]) => n === im.label)),
      'int32',
    );
    // One target code per class, from EET's code generation over the class list.
    const classCodes = trainCodes([0, 1, 2], 3, 16, { seed: 1 });
    const codes = tf.gather(tf.tensor2d(classCodes, [3, 16]), labels);
    const vars = [model.head.weight, model.head.bias!, model.headHash.weight, model.headHash.bias!].map((p) => p.value);
    const opt = tf.train.adam(0.02);
    for (let step = 0; step < 300; step++) {
      opt.minimize(() => {
        const logits = model.head.forward(features);
        return eetTeacherLoss({ logits, hash: model.headHash.forward(logits) }, labels, codes) as tf.Scalar;
      }, false, vars);
    }
    opt.dispose();
    tf.dispose([features, labels, codes]);
    writeSafetensors(weights, await model.stateDict());
  }, 240_000);

  afterAll(() => {
    model?.dispose();
    rmSync(root, { recursive: true, force: true });
  });

  it('ranks each held-out query next to its own class (API)', async () => {
    const db = (await embedImages(model, listImageFolder(dbDir))) as CodeEntry[];
    const queries = await embedImages(model, listImageFolder(queryDir));
    expect(db.every((d) => typeof d.code === 'string' && d.code.length === 16)).toBe(true);
    for (const r of rankDatabase(queries, db, 2)) {
      if ('error' in r) throw new Error(r.error);
      expect(r.results[0]!.label, r.file).toBe(r.label);
      // Trained heads map a class to its target code: the whole own class at distance 0.
      expect(r.results.map((h) => [h.label, h.distance]), r.file).toEqual([
        [r.label, 0],
        [r.label, 0],
      ]);
    }
    expect(new Set(db.map((d) => d.code)).size).toBe(3);
    expect(meanAveragePrecision(queries as CodeEntry[], db)).toBe(1);
    // The database as a code file, for the CLI test (saves re-embedding it there).
    writeFileSync(codeFile, `${JSON.stringify({ model: 'eet_vit_small_cub_16bit', bits: 16, items: db })}\n`);
  }, 120_000);

  it("the hash export computes forwardHash's continuous hash in onnxruntime (what embed runs by default)", async () => {
    const t = evalTransformFor(model.pretrainedCfg);
    const images = listImageFolder(queryDir);
    const pixels = await Promise.all(images.map((im) => loadEvalImage(im.file, t)));
    const x = tf.tensor4d(Float32Array.from(pixels.flatMap((p) => Array.from(p))), [images.length, 224, 224, 3]);
    const want = tf.tidy(() => model.forwardHash(x).hash);
    const wantData = (await want.data()) as Float32Array;
    const nchw = tf.transpose(x, [0, 3, 1, 2]);
    const { bytes, outputNames } = await exportOnnx(model, { dynamicBatch: true, output: 'hash' });
    const session = await createOrtSession(bytes, { threads: 1 });
    const got = (await runSession(session, (await nchw.data()) as Float32Array, nchw.shape)).get(outputNames[0]!)!;
    await session.release();
    expect(got.shape).toEqual([images.length, 16]);
    const scale = Math.max(...Array.from(wantData, Math.abs));
    for (let i = 0; i < wantData.length; i++) expect(Math.abs(got.data[i]! - wantData[i]!)).toBeLessThan(1e-4 * scale);
    tf.dispose([x, want, nchw]);
    await expect(exportOnnx(createModel('van_b0', { numClasses: 3, seed: 0 }), { output: 'hash' })).rejects.toThrow("model 'van_b0' has no hash head");
  }, 120_000);

  it('vizoo embed gives the same codes on onnxruntime (the default) and on tfjs', () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build before the CLI tests`);
    const common = ['-m', 'eet_vit_small_cub_16bit', '-w', weights, '--num-classes', '3', '--backend', 'wasm', '--json'];
    const env = { ...process.env, VIZOO_CACHE: join(root, 'cache') };
    const codes = (runtime: string) => {
      const r = spawnSync('node', [CLI, 'embed', dbDir, '--runtime', runtime, ...common], { encoding: 'utf8', env });
      expect(r.status, r.stderr).toBe(0);
      return { stderr: r.stderr, items: JSON.parse(r.stdout) as CodeEntry[] };
    };
    const ort = codes('ort');
    expect(ort.stderr).toMatch(/exported eet_vit_small_cub_16bit's hash head to \S+\.onnx for onnxruntime/);
    const tfjs = codes('tfjs');
    expect(tfjs.stderr).not.toContain('exported');
    expect(ort.items.length).toBe(6);
    expect(ort.items).toEqual(tfjs.items);
    // The export is cached: a second run on onnxruntime does not export again.
    expect(codes('ort').stderr).not.toContain('exported');
    // A model without a hash head: refused with the hint, before anything is exported.
    const r = spawnSync('node', [CLI, 'embed', join(dbDir, 'red', '0.png'), '-m', 'van_b0', '--random-init'], { encoding: 'utf8', env });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("model 'van_b0' has no hash head (use an EET model");
    expect(r.stderr).not.toContain('exported');
  }, 180_000);

  it('vizoo retrieve puts the own class first and vizoo embed reports bad files but processes the rest', () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build before the CLI tests`);
    if (!existsSync(codeFile)) throw new Error('the API test did not write the database code file');
    const common = ['-m', 'eet_vit_small_cub_16bit', '-w', weights, '--num-classes', '3', '--backend', 'wasm'];
    const env = { ...process.env, VIZOO_CACHE: join(root, 'cache') };
    const out = execFileSync('node', [CLI, 'retrieve', queryDir, '-d', codeFile, '-k', '2', '--json', ...common], { encoding: 'utf8', env });
    const ranked = JSON.parse(out) as { file: string; label: string; results: { label: string; distance: number }[] }[];
    expect(ranked.length).toBe(3);
    for (const r of ranked) expect(r.results[0]!.label, r.file).toBe(r.label);
    const evalOut = execFileSync('node', [CLI, 'retrieve', '--eval', '-d', codeFile, ...common], { encoding: 'utf8', env });
    expect(evalOut).toMatch(/^mAP@all: \d\.\d{4} \(6 queries, 6 database codes, leave-one-out\)/);
    expect(Number(/mAP@all: ([\d.]+)/.exec(evalOut)![1])).toBeGreaterThan(0.9);

    // A corrupt image: one error line naming it, the other image embedded, exit code 1.
    const bad = join(root, 'bad.png');
    writeFileSync(bad, 'not an image');
    const r = spawnSync('node', [CLI, 'embed', join(dbDir, 'red', '0.png'), bad, ...common], { encoding: 'utf8', env });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${bad}: not an image`);
    expect(r.stderr).toContain('1 of 2 images failed');
    expect(r.stdout).toMatch(/^[01]{16}  \S+red\/0\.png\n$/);
  }, 180_000);
});
