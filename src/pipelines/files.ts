/**
 * The Node side of the inference pipelines: images read from files (sharp), folders listed in the
 * ImageFolder convention, segmentation PNGs written atomically. The pipelines themselves are pure
 * (classify.ts, segment.ts, retrieval.ts) and shared with the browser entry.
 */
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, relative } from 'node:path';
import type { Backbone } from '../models/backbone.js';
import { loadEvalImage, loadImageRGB } from '../data/image.js';
import { resolveLabels } from '../data/labels.js';
import { paletteFor } from '../data/palette.js';
import { atomicWriteFile } from '../util/fs.js';
import { loadSharp } from '../util/optional.js';
import { type ClassifyOptions, type ClassifyResult, classifyWith } from './classify.js';
import type { InferenceModel } from './model.js';
import { type EmbedOptions, type EmbedResult, type LabelledImage, embedWith } from './retrieval.js';
import { NotSegmentationModelError, type SegmentOptions, type SegmentResult, type SegmentationMap, classShares, colorize, overlay, segmentRGB, workingSize } from './segment.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.bmp', '.tif', '.tiff', '.avif'];

/** Top-k labels of each image file; a file that cannot be read or decoded gives `{file, error}`. */
export function classifyImages(model: InferenceModel, files: string[], opts: ClassifyOptions = {}): Promise<ClassifyResult[]> {
  return classifyWith(model, files, loadEvalImage, (f) => f, opts);
}

/** Hash codes of image files (EET models). */
export function embedImages(model: Backbone, images: LabelledImage[], opts: EmbedOptions = {}): Promise<EmbedResult[]> {
  return embedWith(model, images, (im, t) => loadEvalImage(im.file, t), opts);
}

/**
 * Images of a folder in the ImageFolder convention: `root/<class>/<image>` gets label <class> (nested deeper
 * folders keep their first-level class), files directly in root get null. Sorted by path.
 */
export function listImageFolder(root: string): LabelledImage[] {
  const out: LabelledImage[] = [];
  const walk = (dir: string) => {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch (e) {
      throw new Error(`${dir}: cannot read folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    for (const name of names.sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (IMAGE_EXTENSIONS.includes(extname(name).toLowerCase())) {
        const rel = relative(root, path).split(/[\\/]/);
        out.push({ file: path, label: rel.length > 1 ? rel[0]! : null });
      }
    }
  };
  walk(root);
  return out;
}

/** Folders expand to their images (labelled by class subfolder); files are taken as they are. */
export function expandImageArgs(paths: string[]): LabelledImage[] {
  return paths.flatMap((p) => {
    let isDir = false;
    try {
      isDir = statSync(p).isDirectory();
    } catch {
      /* a missing file is reported when it is decoded */
    }
    return isDir ? listImageFolder(p) : [{ file: p, label: null }];
  });
}


/** Display name of an image relative to a folder (for compact listings). */
export function shortName(file: string, root?: string): string {
  return root ? relative(root, file) : join(basename(dirname(file)), basename(file));
}

async function writePng(path: string, rgb: Uint8Array, width: number, height: number): Promise<void> {
  const png = await (await loadSharp())(rgb, { raw: { width, height, channels: 3 } }).png().toBuffer();
  atomicWriteFile(path, png);
}

/** The class map as a grey PNG of class indices: 8-bit up to 256 classes, else 16-bit. */
async function writeClassPng(path: string, map: SegmentationMap, numClasses: number): Promise<void> {
  const sharp = await loadSharp();
  const { width, height } = map;
  const png =
    numClasses <= 256
      ? await sharp(Uint8Array.from(map.classes), { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer()
      : await sharp(Uint16Array.from(map.classes), { raw: { width, height, channels: 1 } }).toColourspace('grey16').png().toBuffer();
  atomicWriteFile(path, png);
}

/** `name` unless already used in this run, else name_2, name_3, ... */
function uniqueStem(file: string, used: Set<string>): string {
  const stem = basename(file, extname(file)) || 'image';
  let s = stem;
  for (let k = 2; used.has(s); k++) s = `${stem}_${k}`;
  used.add(s);
  return s;
}

/**
 * Segments each file. A file that cannot be read or decoded gives `{file, error}` (the others go on); the
 * PNGs are written atomically.
 */
export async function segmentImages(model: InferenceModel, files: string[], opts: SegmentOptions = {}): Promise<SegmentResult[]> {
  const cfg = model.pretrainedCfg;
  if (cfg.task !== 'segmentation') throw new NotSegmentationModelError(model.variant, cfg.task);
  const labels = resolveLabels(cfg.labels, model.numClasses);
  const palette = paletteFor(cfg.labels, model.numClasses);
  if (opts.outDir) mkdirSync(opts.outDir, { recursive: true });
  model.eval();
  const used = new Set<string>();
  const results: SegmentResult[] = [];
  let next = files.length ? loadImageRGB(files[0]!).then((d) => ({ d }), (e: Error) => ({ e })) : null;
  for (let i = 0; next; i++) {
    const file = files[i]!;
    const loaded = await next;
    // Decode the next image while this one runs.
    next = i + 1 < files.length ? loadImageRGB(files[i + 1]!).then((d) => ({ d }), (e: Error) => ({ e })) : null;
    let r: SegmentResult;
    if ('e' in loaded) r = { file, error: loaded.e.message };
    else {
      const { data, width, height } = loaded.d;
      try {
        const size = opts.size ?? workingSize(cfg, width, height);
        const map = await segmentRGB(model, data, width, height, size);
        const ok: SegmentResult & { classes: unknown } = { file, width, height, workingSize: size, classes: classShares(map, labels) };
        if (opts.outDir) {
          const stem = uniqueStem(file, used);
          const mask = colorize(map, palette);
          ok.mask = join(opts.outDir, `${stem}_mask.png`);
          ok.overlay = join(opts.outDir, `${stem}_overlay.png`);
          await writePng(ok.mask, mask, width, height);
          await writePng(ok.overlay, overlay(data, mask, opts.alpha ?? 0.5), width, height);
          if (opts.rawMask) await writeClassPng((ok.rawMask = join(opts.outDir, `${stem}_classes.png`)), map, model.numClasses);
        }
        r = ok;
      } catch (e) {
        r = { file, error: `${file}: ${(e as Error).message}` };
      }
    }
    results.push(r);
    opts.onImage?.(r);
  }
  return results;
}
