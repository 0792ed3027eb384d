// The segmentation pipeline: mask and overlay PNGs, class shares, bad inputs, padding to the network's
// multiple, resizing, and the logits -> upsample (align_corners) -> argmax path.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CITYSCAPES_CLASSES, CITYSCAPES_PALETTE, CorruptSampleError, NotSegmentationModelError, SegmentationFolder, getModelEntry, loadImageRGB, normalize, segmentImages, segmentRGB, tf } from '../../src/index.js';
import { BEVANetCls, BEVANetSeg } from '../../src/models/bevanet.js';
import { ROOT } from '../paths.js';

const SAMPLE = join(ROOT, 'assets', 'samples', 'street_scene.png');

function tinySegmenter(): BEVANetSeg {
  const m = new BEVANetSeg({ planes: 4, nBlocks: [1, 1, 2, 2, 1], ppmPlanes: 8, headPlanes: 8, numClasses: 19, segAugment: false });
  m.pretrainedCfg = { ...getModelEntry('bevanet_s_seg_deploy').pretrainedCfg };
  m.variant = 'tiny';
  return m.initialize(7).eval();
}

async function readRgb(path: string): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

describe('segmentImages', () => {
  let dir: string;
  let model: BEVANetSeg;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vizoo-seg-'));
    model = tinySegmenter();
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
    model.dispose();
  });

  it('writes a palette mask and a 50% overlay per image, reports class shares, and reports bad files', async () => {
    const bad = join(dir, 'bad.png');
    writeFileSync(bad, 'not a png');
    const odd = join(dir, 'odd.png');
    await sharp({ create: { width: 37, height: 29, channels: 3, background: { r: 200, g: 30, b: 90 } } }).png().toFile(odd);
    const out = join(dir, 'out');
    const seen: string[] = [];
    const results = await segmentImages(model, [SAMPLE, bad, join(dir, 'missing.jpg'), odd, SAMPLE], { outDir: out, onImage: (r) => seen.push(r.file) });
    expect(seen).toEqual([SAMPLE, bad, join(dir, 'missing.jpg'), odd, SAMPLE]);
    const [ok, notImage, missing, oddR, again] = results;
    expect(notImage).toEqual({ file: bad, error: `${bad}: not an image (unsupported or unrecognized format; vizoo decodes PNG, JPEG, WebP, GIF, TIFF, AVIF)` });
    expect(missing).toEqual({ file: join(dir, 'missing.jpg'), error: `${join(dir, 'missing.jpg')}: no such file` });
    if (!ok || 'error' in ok || !oddR || 'error' in oddR || !again || 'error' in again) throw new Error('expected results');
    expect([ok.width, ok.height]).toEqual([512, 256]);
    expect(ok.mask).toBe(join(out, 'street_scene_mask.png'));
    expect(again.mask).toBe(join(out, 'street_scene_2_mask.png'));
    expect(ok.classes.reduce((a, c) => a + c.share, 0)).toBeCloseTo(1, 6);
    for (const c of ok.classes) expect(c.label).toBe(CITYSCAPES_CLASSES[c.index]);

    const mask = await readRgb(ok.mask!);
    const over = await readRgb(ok.overlay!);
    const img = await readRgb(SAMPLE);
    expect([mask.width, mask.height, over.width, over.height]).toEqual([512, 256, 512, 256]);
    const colors = new Set(CITYSCAPES_PALETTE.map((c) => c.join(',')));
    const counts = new Map<string, number>();
    for (let i = 0; i < mask.data.length; i += 3) {
      const key = `${mask.data[i]},${mask.data[i + 1]},${mask.data[i + 2]}`;
      expect(colors.has(key)).toBe(true);
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    for (const c of ok.classes) expect(counts.get(CITYSCAPES_PALETTE[c.index]!.join(','))! / (512 * 256)).toBeCloseTo(c.share, 6);
    for (const i of [0, 3 * 1000 + 1, 3 * (512 * 256 - 1) + 2]) expect(over.data[i]).toBe(Math.round(0.5 * img.data[i]! + 0.5 * mask.data[i]!));

    // 37x29 is padded to 40x32 for the network, and the mask is cropped back.
    const oddMask = await readRgb(oddR.mask!);
    expect([oddMask.width, oddMask.height]).toEqual([37, 29]);
  });

  it('equals argmax of the logits upsampled with align_corners (no padding needed at 512x256)', async () => {
    const { data, width, height } = await loadImageRGB(SAMPLE);
    const map = await segmentRGB(model, data, width, height);
    const cfg = model.pretrainedCfg;
    const want = tf.tidy(() => {
      const x = tf.tensor4d(normalize(data, cfg.mean, cfg.std), [1, height, width, 3]);
      return tf.argMax(tf.image.resizeBilinear(model.forward(x) as tf.Tensor4D, [height, width], true), -1);
    });
    expect(Array.from(map.classes)).toEqual(Array.from(await want.data()));
    want.dispose();
  });

  it('runs at a requested size and returns the mask at the image size', async () => {
    const [r] = await segmentImages(model, [SAMPLE], { outDir: join(dir, 'sized'), size: [64, 128] });
    if (!r || 'error' in r) throw new Error('expected a result');
    const mask = await readRgb(r.mask!);
    expect([mask.width, mask.height]).toEqual([512, 256]);
    expect(existsSync(r.overlay!)).toBe(true);
  });

  it('segments a 4000x3000 photo at the working resolution and returns full-size masks, plus class-index PNGs', async () => {
    const big = join(dir, 'photo.jpg');
    const noise = Buffer.alloc(400 * 300 * 3);
    for (let i = 0; i < noise.length; i++) noise[i] = (i * 97 + (i >> 7) * 13) % 256;
    await sharp(noise, { raw: { width: 400, height: 300, channels: 3 } }).resize(4000, 3000, { kernel: 'nearest' }).jpeg().toFile(big);
    const small = tinySegmenter();
    small.pretrainedCfg = { ...small.pretrainedCfg, inputSize: [3, 96, 128] };
    const [r] = await segmentImages(small, [big], { outDir: join(dir, 'big'), rawMask: true });
    small.dispose();
    if (!r || 'error' in r) throw new Error(`expected a result, got ${JSON.stringify(r)}`);
    // A budget of 96 * 128 pixels at 4:3: s = sqrt(12288 / 12e6) = 0.032, so 3000 x 4000 runs at 96 x 128.
    expect(r.workingSize).toEqual([96, 128]);
    expect([r.width, r.height]).toEqual([4000, 3000]);
    const mask = await sharp(r.mask!).metadata();
    expect([mask.width, mask.height]).toEqual([4000, 3000]);
    expect((await sharp(r.rawMask!).metadata()).channels).toBe(1);
    const raw = await sharp(r.rawMask!).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect([raw.info.width, raw.info.height]).toEqual([4000, 3000]);
    const counts = new Array<number>(256).fill(0);
    for (const c of raw.data) counts[c]!++;
    expect(counts.slice(19).every((n) => n === 0)).toBe(true);
    for (const c of r.classes) expect(counts[c.index]! / raw.data.length).toBeCloseTo(c.share, 6);
  });

  it('refuses a classifier', async () => {
    const cls = new BEVANetCls({ planes: 4, nBlocks: [1, 1, 2, 2, 1], numClasses: 3, lastPlanes: 8 });
    cls.pretrainedCfg = { ...getModelEntry('bevanet_s_cls').pretrainedCfg };
    await expect(segmentImages(cls, [SAMPLE])).rejects.toBeInstanceOf(NotSegmentationModelError);
  });
});

describe('SegmentationFolder', () => {
  it('reads masks as class indices through the guarded decoder; an SVG or mismatched mask is a corrupt sample', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vizoo-segfolder-'));
    for (const sub of ['images', 'masks']) mkdirSync(join(dir, sub));
    const px = (w: number, h: number, v: (i: number) => number) => sharp(Buffer.from(Array.from({ length: w * h }, (_, i) => v(i))), { raw: { width: w, height: h, channels: 1 } });
    for (const n of ['a', 'b', 'c']) await px(6, 4, (i) => i * 10).png().toFile(join(dir, 'images', `${n}.png`));
    await px(6, 4, (i) => i % 3).png().toFile(join(dir, 'masks', 'a.png'));
    writeFileSync(join(dir, 'masks', 'b.png'), '<svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>');
    await px(5, 4, () => 1).png().toFile(join(dir, 'masks', 'c.png'));
    const ds = new SegmentationFolder(dir);
    const a = await ds.load(0);
    expect(Array.from(a.mask)).toEqual(Array.from({ length: 24 }, (_, i) => i % 3));
    await expect(ds.load(1)).rejects.toThrow(new CorruptSampleError(join(dir, 'masks', 'b.png'), 'cannot use mask (is an SVG or other XML document (a vector format); vizoo decodes raster images only (PNG, JPEG, WebP, GIF, TIFF, AVIF))'));
    await expect(ds.load(2)).rejects.toThrow(/c\.png: cannot use mask \(mask is 5x4, image 6x4\)$/);
    rmSync(dir, { recursive: true, force: true });
  });
});
