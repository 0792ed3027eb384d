/**
 * Semantic segmentation of a decoded image: normalize, forward, upsample the logit map to the image
 * (bilinear with the config's align_corners), argmax; per-class pixel shares, colorized mask and overlay.
 * Pure: reading files and writing PNGs is the entries' part (src/pipelines/files.ts in Node).
 *
 * Eval transform (BEVANet's tools/eval.py and tools/custom.py feed the whole image at its own resolution,
 * RGB / 255 normalized with the config's mean/std, and upsample with align_corners=True): the image keeps
 * its resolution unless `size` asks for another (bilinear, half-pixel); it is zero-padded at the bottom and
 * right (zero in normalized space, as base_dataset.pad_image) to a multiple of the config's
 * `inputMultiple`, and the upsampled logits are cropped back. With `size`, the argmax map is brought back
 * to the image's own size by nearest-neighbour resizing.
 */
import { tf, type Tensor4D } from '../tf.js';
import { type InferenceModel, runForward } from './model.js';
import { normalize } from '../data/transforms.js';
import type { RGB } from '../data/palette.js';
import { resizeBilinear, resizeNearest } from '../nn/functional.js';
import { resampleImage } from '../data/resample.js';
import type { PretrainedConfig } from '../models/registry.js';

export interface ClassShare {
  index: number;
  label: string;
  /** Fraction of the image's pixels predicted as this class. */
  share: number;
}

export type SegmentResult =
  | {
      file: string;
      width: number;
      height: number;
      /** [height, width] the network ran at (smaller than the image when it was over the model's working resolution). */
      workingSize: [number, number];
      mask?: string;
      overlay?: string;
      rawMask?: string;
      classes: ClassShare[];
    }
  | { file: string; error: string };

export interface SegmentOptions {
  /** Folder for `<name>_mask.png` and `<name>_overlay.png` (created); none: no files are written. */
  outDir?: string;
  /**
   * Run the network at this (height, width). Default: the image's own size, scaled down (aspect kept) when it
   * has more pixels than the model's working resolution (its config's input size).
   */
  size?: [number, number];
  /** Also write `<name>_classes.png`: the class index of each pixel as an 8-bit grey PNG (for post-processing). */
  rawMask?: boolean;
  /** Opacity of the mask in the overlay (default 0.5). */
  alpha?: number;
  onImage?: (r: SegmentResult) => void;
}

/** A segmentation map for one image: class index per pixel (row-major, image size). */
export interface SegmentationMap {
  width: number;
  height: number;
  classes: Int32Array;
}

export class NotSegmentationModelError extends Error {
  constructor(variant: string, task = 'classification') {
    super(`${variant || 'this model'} is not a segmentation model (task: ${task}); segmentation models: vizoo list '*_seg*'`);
    this.name = 'NotSegmentationModelError';
  }
}

/**
 * The [height, width] a segmenter runs an image at: the image's own size, or, when it has more pixels than
 * the model's working resolution (the config's input size: what it was trained and evaluated at), the
 * largest size of the same aspect within that many pixels. Memory and time then stay bounded for photos.
 */
export function workingSize(cfg: PretrainedConfig, width: number, height: number): [number, number] {
  const budget = cfg.inputSize[1] * cfg.inputSize[2];
  if (width * height <= budget) return [height, width];
  const s = Math.sqrt(budget / (width * height));
  return [Math.max(1, Math.floor(height * s)), Math.max(1, Math.floor(width * s))];
}

/**
 * Segments one decoded image (HWC uint8 RGB) at `size` (default: workingSize) and returns the class map at
 * the image's size. The model must be a segmenter in eval mode.
 */
export async function segmentRGB(model: InferenceModel, rgb: Uint8Array, width: number, height: number, size?: [number, number]): Promise<SegmentationMap> {
  const cfg = model.pretrainedCfg;
  const multiple = Math.max(1, cfg.inputMultiple ?? 1);
  const [h, w] = size ?? workingSize(cfg, width, height);
  const ph = Math.ceil(h / multiple) * multiple;
  const pw = Math.ceil(w / multiple) * multiple;
  // Resizing the 8-bit image (antialiased) keeps a large photo from becoming a full-size float tensor.
  const pixels = h !== height || w !== width ? resampleImage({ data: rgb, width, height, channels: 3 }, { x: 0, y: 0, w: width, h: height }, w, h, 'bilinear').data : rgb;
  const input = tf.tidy(() => {
    const x = tf.tensor4d(normalize(pixels, cfg.mean, cfg.std), [1, h, w, 3]);
    return ph !== h || pw !== w ? (tf.pad(x, [[0, 0], [0, ph - h], [0, pw - w], [0, 0]]) as Tensor4D) : x;
  });
  const logits = (await runForward(model, input)) as Tensor4D;
  const labels = tf.tidy(() => {
    const up = resizeBilinear(logits, [ph, pw], cfg.alignCorners ?? false);
    let cls = tf.expandDims(tf.argMax(tf.slice(up, [0, 0, 0, 0], [1, h, w, -1]), -1), -1) as Tensor4D;
    if (h !== height || w !== width) cls = resizeNearest(cls, [height, width]);
    return tf.cast(cls, 'int32');
  });
  tf.dispose([input, logits]);
  const classes = new Int32Array((await labels.data()) as Int32Array);
  labels.dispose();
  return { width, height, classes };
}

/** Fraction of pixels per class, largest first (classes that occur only). */
export function classShares(map: SegmentationMap, labels: string[]): ClassShare[] {
  const counts = new Float64Array(labels.length);
  for (const c of map.classes) counts[c]!++;
  const n = map.classes.length;
  return [...counts.keys()]
    .filter((i) => counts[i]! > 0)
    .map((i) => ({ index: i, label: labels[i] ?? `class ${i}`, share: counts[i]! / n }))
    .sort((a, b) => b.share - a.share || a.index - b.index);
}

/** RGB image of the class map in the palette's colors. */
export function colorize(map: SegmentationMap, palette: RGB[]): Uint8Array {
  const out = new Uint8Array(map.classes.length * 3);
  map.classes.forEach((c, i) => {
    const col = palette[c] ?? [0, 0, 0];
    out[3 * i] = col[0];
    out[3 * i + 1] = col[1];
    out[3 * i + 2] = col[2];
  });
  return out;
}

/** (1 - alpha) * image + alpha * mask colors, per channel. */
export function overlay(rgb: Uint8Array, maskRgb: Uint8Array, alpha = 0.5): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) out[i] = Math.round((1 - alpha) * rgb[i]! + alpha * maskRgb[i]!);
  return out;
}
