/**
 * Sample transforms on decoded uint8 HWC images, in JavaScript (deterministic given an Rng):
 * train = RandomResizedCrop -> horizontal flip -> color jitter -> normalize (torchvision/timm order);
 * eval = resize shorter side to size/crop_pct -> center crop -> normalize (timm's eval transform).
 */
import type { Rng } from '../nn/rng.js';
import type { Interpolation, PretrainedConfig } from '../models/registry.js';
import type { RawImage } from './dataset.js';

/** torchvision Resize(int): the shorter side becomes `size`, the longer int(size * long / short). */
export function resizeShorter(w: number, h: number, size: number): [number, number] {
  return w <= h ? [size, Math.trunc((size * h) / w)] : [Math.trunc((size * w) / h), size];
}

export interface Region {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Bilinear resample of `region` (half-pixel centers, edge clamp) to out width x height. */
export function resampleBilinear(img: RawImage, region: Region, ow: number, oh: number): RawImage {
  const { data, width, height, channels: c } = img;
  const out = new Uint8Array(ow * oh * c);
  const sx = region.w / ow;
  const sy = region.h / oh;
  for (let oy = 0; oy < oh; oy++) {
    const fy = Math.min(height - 1, Math.max(0, region.y + (oy + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(height - 1, y0 + 1);
    const ly = fy - y0;
    for (let ox = 0; ox < ow; ox++) {
      const fx = Math.min(width - 1, Math.max(0, region.x + (ox + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(width - 1, x0 + 1);
      const lx = fx - x0;
      for (let k = 0; k < c; k++) {
        const a = data[(y0 * width + x0) * c + k]! * (1 - lx) + data[(y0 * width + x1) * c + k]! * lx;
        const b = data[(y1 * width + x0) * c + k]! * (1 - lx) + data[(y1 * width + x1) * c + k]! * lx;
        out[(oy * ow + ox) * c + k] = Math.round(a * (1 - ly) + b * ly);
      }
    }
  }
  return { data: out, width: ow, height: oh, channels: c };
}

/** Nearest resample (for masks and label maps): src = floor((dst + 0.5) * scale). */
export function resampleNearest(data: Uint8Array, width: number, height: number, region: Region, ow: number, oh: number, fill = 0): Uint8Array {
  const out = new Uint8Array(ow * oh);
  for (let oy = 0; oy < oh; oy++) {
    const y = Math.floor(region.y + ((oy + 0.5) * region.h) / oh);
    for (let ox = 0; ox < ow; ox++) {
      const x = Math.floor(region.x + ((ox + 0.5) * region.w) / ow);
      out[oy * ow + ox] = y < 0 || y >= height || x < 0 || x >= width ? fill : data[y * width + x]!;
    }
  }
  return out;
}

/** torchvision RandomResizedCrop's region sampling (10 tries, then a center crop of clamped ratio). */
export function sampleResizedCropRegion(width: number, height: number, rng: Rng, scale: [number, number] = [0.08, 1], ratio: [number, number] = [3 / 4, 4 / 3]): Region {
  const area = width * height;
  const logR = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let t = 0; t < 10; t++) {
    const target = area * (scale[0] + rng.uniform() * (scale[1] - scale[0]));
    const ar = Math.exp(logR[0]! + rng.uniform() * (logR[1]! - logR[0]!));
    const w = Math.round(Math.sqrt(target * ar));
    const h = Math.round(Math.sqrt(target / ar));
    if (w > 0 && h > 0 && w <= width && h <= height) return { x: rng.int(width - w + 1), y: rng.int(height - h + 1), w, h };
  }
  const r = width / height;
  let w = width;
  let h = height;
  if (r < ratio[0]) h = Math.round(w / ratio[0]);
  else if (r > ratio[1]) w = Math.round(h * ratio[1]);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), w, h };
}

export function hflip(img: RawImage): RawImage {
  const { data, width, height, channels: c } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) for (let k = 0; k < c; k++) out[(y * width + x) * c + k] = data[(y * width + (width - 1 - x)) * c + k]!;
  return { ...img, data: out };
}

/** RGBA -> RGB, the alpha channel dropped (as sharp's removeAlpha). */
function dropAlpha(img: RawImage): RawImage {
  const n = img.width * img.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) out[3 * i + k] = img.data[4 * i + k]!;
  return { ...img, data: out, channels: 3 };
}

/** Channels as the model wants them: grey -> RGB by replication, RGB -> grey by PIL's 'L' weights. */
export function toChannels(img: RawImage, channels: number): RawImage {
  if (img.channels === channels) return img;
  if (img.channels === 4) return toChannels(dropAlpha(img), channels);
  const n = img.width * img.height;
  const out = new Uint8Array(n * channels);
  if (img.channels === 1 && channels === 3) for (let i = 0; i < n; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = img.data[i]!;
  else if (img.channels === 3 && channels === 1)
    for (let i = 0; i < n; i++) out[i] = Math.round((img.data[3 * i]! * 299 + img.data[3 * i + 1]! * 587 + img.data[3 * i + 2]! * 114) / 1000);
  else throw new Error(`cannot convert ${img.channels} channels to ${channels}`);
  return { ...img, data: out, channels };
}

/**
 * Brightness, contrast and saturation factors drawn from [1-s, 1+s] in a random order (torchvision ColorJitter,
 * on [0,1] floats). Works in place.
 */
export function colorJitter(x: Float32Array, channels: number, strength: number, rng: Rng): void {
  if (strength <= 0) return;
  const n = x.length / channels;
  const grey = (i: number) => (channels === 3 ? 0.299 * x[3 * i]! + 0.587 * x[3 * i + 1]! + 0.114 * x[3 * i + 2]! : x[i]!);
  const ops = rng.shuffle([0, 1, 2]);
  for (const op of ops) {
    const f = 1 - strength + 2 * strength * rng.uniform();
    if (op === 0) for (let i = 0; i < x.length; i++) x[i] = Math.min(1, Math.max(0, x[i]! * f));
    else if (op === 1) {
      let mean = 0;
      for (let i = 0; i < n; i++) mean += grey(i);
      mean /= n;
      for (let i = 0; i < x.length; i++) x[i] = Math.min(1, Math.max(0, mean + (x[i]! - mean) * f));
    } else if (channels === 3) {
      for (let i = 0; i < n; i++) {
        const g = grey(i);
        for (let k = 0; k < 3; k++) x[3 * i + k] = Math.min(1, Math.max(0, g + (x[3 * i + k]! - g) * f));
      }
    }
  }
}

export function toFloat(img: RawImage): Float32Array {
  const out = new Float32Array(img.data.length);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i]! / 255;
  return out;
}

/** uint8 pixels (channels = mean.length) -> normalized float32. */
export function normalize(pixels: Uint8Array, mean: readonly number[], std: readonly number[]): Float32Array {
  return normalizeInPlace(Float32Array.from(pixels, (v) => v / 255), mean.length, mean, std);
}

export function normalizeInPlace(x: Float32Array, channels: number, mean: readonly number[], std: readonly number[]): Float32Array {
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    x[i] = (x[i]! - mean[c]!) / std[c]!;
  }
  return x;
}

export interface TrainAugmentation {
  /** RandomResizedCrop scale range; null disables the crop (plain resize). */
  scale?: [number, number] | null;
  ratio?: [number, number];
  /** Horizontal flip probability. */
  hflip?: number;
  /** ColorJitter strength for brightness, contrast and saturation (0 = off). */
  colorJitter?: number;
}

export interface EvalTransform {
  size: [number, number];
  /** 3 (RGB) or 1 (grey, PIL 'L' weights). */
  channels: number;
  cropPct: number;
  interpolation: Interpolation;
  mean: readonly number[];
  std: readonly number[];
}

export function evalTransformFor(cfg: PretrainedConfig): EvalTransform {
  return { size: [cfg.inputSize[1], cfg.inputSize[2]], channels: cfg.inputSize[0], cropPct: cfg.cropPct, interpolation: cfg.interpolation, mean: cfg.mean, std: cfg.std };
}

export interface InputSpec {
  channels: number;
  height: number;
  width: number;
  cropPct: number;
  mean: readonly number[];
  std: readonly number[];
}

export function inputSpecFor(cfg: PretrainedConfig): InputSpec {
  const [channels, height, width] = cfg.inputSize;
  const fit = (v: readonly number[]) => (channels === v.length ? v : Array.from({ length: channels }, (_, i) => v[i] ?? v[0]!));
  return { channels, height, width, cropPct: cfg.cropPct, mean: fit(cfg.mean), std: fit(cfg.std) };
}

/** Train transform: HWC float32 normalized, of the spec's size and channels. */
export function trainTransform(img: RawImage, spec: InputSpec, aug: TrainAugmentation, rng: Rng): Float32Array {
  const region = aug.scale === null ? { x: 0, y: 0, w: img.width, h: img.height } : sampleResizedCropRegion(img.width, img.height, rng, aug.scale ?? [0.08, 1], aug.ratio);
  let out = resampleBilinear(img, region, spec.width, spec.height);
  if (rng.uniform() < (aug.hflip ?? 0.5)) out = hflip(out);
  out = toChannels(out, spec.channels);
  const x = toFloat(out);
  colorJitter(x, spec.channels, aug.colorJitter ?? 0, rng);
  return normalizeInPlace(x, spec.channels, spec.mean, spec.std);
}

/** Eval transform (timm): shorter side to floor(size / crop_pct), center crop, normalize. */
export function evalTransform(img: RawImage, spec: InputSpec): Float32Array {
  const [rw, rh] = spec.height === spec.width ? resizeShorter(img.width, img.height, Math.floor(spec.height / spec.cropPct)) : [Math.floor(spec.width / spec.cropPct), Math.floor(spec.height / spec.cropPct)];
  // The crop of the resized image, mapped back to source coordinates.
  const left = Math.round((rw - spec.width) / 2);
  const top = Math.round((rh - spec.height) / 2);
  const region = { x: (left * img.width) / rw, y: (top * img.height) / rh, w: (spec.width * img.width) / rw, h: (spec.height * img.height) / rh };
  const out = region.x === 0 && region.y === 0 && region.w === img.width && region.h === img.height && rw === img.width && rh === img.height ? img : resampleBilinear(img, region, spec.width, spec.height);
  return normalizeInPlace(toFloat(toChannels(out, spec.channels)), spec.channels, spec.mean, spec.std);
}
