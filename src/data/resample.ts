/**
 * Antialiased image resampling in plain TypeScript, as PIL's `Image.resize` and torchvision's
 * `Resize(antialias=True)` do it: separable, and when shrinking the filter is stretched by the scale so
 * every source pixel contributes. Used where sharp is not available (the browser entry); in Node, sharp's
 * `cubic` / `linear` kernels compute the same filters.
 */
import type { Interpolation } from '../models/registry.js';
import type { RawImage } from './dataset.js';
import { type EvalTransform, type Region, normalizeInPlace, resizeShorter, toChannels, toFloat } from './transforms.js';

/** Keys cubic with a = -0.5 (PIL BICUBIC, Catmull-Rom); support 2. */
function cubic(x: number): number {
  const a = -0.5;
  x = Math.abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

function triangle(x: number): number {
  x = Math.abs(x);
  return x < 1 ? 1 - x : 0;
}

const FILTERS: Record<Exclude<Interpolation, 'nearest'>, { fn: (x: number) => number; support: number }> = {
  bicubic: { fn: cubic, support: 2 },
  bilinear: { fn: triangle, support: 1 },
};

/** Per output index: the first source index and the normalized weights (one axis of the separable filter). */
function axisWeights(start: number, length: number, size: number, out: number, interpolation: Interpolation): { first: Int32Array; weights: Float32Array[] } {
  const scale = length / out;
  const first = new Int32Array(out);
  const weights: Float32Array[] = [];
  for (let i = 0; i < out; i++) {
    const center = start + (i + 0.5) * scale;
    if (interpolation === 'nearest') {
      first[i] = Math.min(size - 1, Math.max(0, Math.floor(center)));
      weights.push(Float32Array.of(1));
      continue;
    }
    const { fn, support } = FILTERS[interpolation];
    const stretch = Math.max(scale, 1);
    const lo = Math.max(0, Math.floor(center - support * stretch));
    const hi = Math.min(size, Math.ceil(center + support * stretch));
    const w = new Float32Array(Math.max(1, hi - lo));
    let sum = 0;
    for (let j = lo; j < hi; j++) sum += w[j - lo] = fn((j + 0.5 - center) / stretch);
    if (sum !== 0) for (let k = 0; k < w.length; k++) w[k]! /= sum;
    first[i] = lo;
    weights.push(w);
  }
  return { first, weights };
}

/** Resamples `region` of `img` to ow x oh with `interpolation` (antialiased when shrinking). */
export function resampleImage(img: RawImage, region: Region, ow: number, oh: number, interpolation: Interpolation): RawImage {
  const { data, width, height, channels: c } = img;
  const xs = axisWeights(region.x, region.w, width, ow, interpolation);
  const ys = axisWeights(region.y, region.h, height, oh, interpolation);
  // Horizontal pass over every source row, kept in float; the vertical pass rounds once.
  const tmp = new Float32Array(height * ow * c);
  for (let y = 0; y < height; y++) {
    for (let ox = 0; ox < ow; ox++) {
      const w = xs.weights[ox]!;
      const x0 = xs.first[ox]!;
      for (let k = 0; k < c; k++) {
        let v = 0;
        for (let j = 0; j < w.length; j++) v += w[j]! * data[(y * width + x0 + j) * c + k]!;
        tmp[(y * ow + ox) * c + k] = v;
      }
    }
  }
  const out = new Uint8Array(ow * oh * c);
  for (let oy = 0; oy < oh; oy++) {
    const w = ys.weights[oy]!;
    const y0 = ys.first[oy]!;
    for (let i = 0; i < ow * c; i++) {
      let v = 0;
      for (let j = 0; j < w.length; j++) v += w[j]! * tmp[(y0 + j) * ow * c + i]!;
      out[oy * ow * c + i] = Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return { data: out, width: ow, height: oh, channels: c };
}

/**
 * The eval transform of `t` on decoded pixels (timm's): the shorter side resized to floor(size / crop_pct)
 * (a non-square size resizes both sides), center crop, channels, normalize. HWC float32.
 */
export function evalPreprocess(img: RawImage, t: EvalTransform): Float32Array {
  const [th, tw] = t.size;
  const [rw, rh] = th === tw ? resizeShorter(img.width, img.height, Math.floor(th / t.cropPct)) : [Math.floor(tw / t.cropPct), Math.floor(th / t.cropPct)];
  if (rw < tw || rh < th) throw new Error(`crop ${tw}x${th} is larger than the resized ${rw}x${rh} image (crop_pct ${t.cropPct} > 1 is not supported)`);
  const left = Math.round((rw - tw) / 2);
  const top = Math.round((rh - th) / 2);
  const same = rw === img.width && rh === img.height && tw === img.width && th === img.height;
  const region = { x: (left * img.width) / rw, y: (top * img.height) / rh, w: (tw * img.width) / rw, h: (th * img.height) / rh };
  const rgb = toChannels(img, 3);
  const out = same ? rgb : resampleImage(rgb, region, tw, th, t.interpolation);
  return normalizeInPlace(toFloat(toChannels(out, t.channels)), t.channels, t.mean, t.std);
}
