/**
 * Image decoding and eval preprocessing with sharp, following timm's eval transform: resize the shorter
 * side to floor(size / crop_pct) (torchvision Resize rounding), center-crop, scale to [0, 1], normalize.
 */
import { readFileSync, statSync } from 'node:fs';
import type { KernelEnum, Sharp } from 'sharp';
import { loadSharp } from '../util/optional.js';
import type { Interpolation } from '../models/registry.js';
import { FileError } from '../util/errors.js';
import { type EvalTransform, normalizeInPlace, resizeShorter, toChannels, toFloat } from './transforms.js';

export { type EvalTransform, evalTransformFor } from './transforms.js';

export class ImageError extends FileError {}

const KERNEL: Record<Interpolation, keyof KernelEnum> = { bicubic: 'cubic', bilinear: 'linear', nearest: 'nearest' };

function readImageBytes(path: string): Buffer {
  try {
    if (!statSync(path).isFile()) throw new ImageError(path, 'not a file');
    return readFileSync(path);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new ImageError(path, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? (e as Error).message})`);
  }
}

/** Decodes to 8-bit sRGB pixels (alpha dropped, greyscale expanded). */
async function decode(path: string, pipeline: (s: Sharp, w: number, h: number) => Sharp): Promise<{ data: Buffer; width: number; height: number }> {
  const bytes = readImageBytes(path);
  const sharp = await loadSharp();
  try {
    const meta = await sharp(bytes, { failOn: 'error' }).metadata();
    if (!meta.width || !meta.height) throw new Error('no image dimensions');
    const img = pipeline(sharp(bytes, { failOn: 'error' }).removeAlpha().toColourspace('srgb'), meta.width, meta.height);
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
    return { data, width: info.width, height: info.height };
  } catch (e) {
    const msg = (e as Error).message.split('\n')[0];
    throw new ImageError(path, /unsupported image format|Input buffer contains unsupported/i.test(msg ?? '') ? 'not an image (unsupported or unrecognized format)' : `cannot decode image (${msg})`);
  }
}


/**
 * Decodes and preprocesses one image: HWC float32, normalized, of the transform's size. A square size
 * resizes the shorter side to floor(size / crop_pct); a non-square one resizes to floor(h / crop_pct) x
 * floor(w / crop_pct) (timm's transforms_factory).
 */
export async function loadEvalImage(path: string, t: EvalTransform): Promise<Float32Array> {
  const [th, tw] = t.size;
  const { data } = await decode(path, (s, w, h) => {
    const [rw, rh] = th === tw ? resizeShorter(w, h, Math.floor(th / t.cropPct)) : [Math.floor(tw / t.cropPct), Math.floor(th / t.cropPct)];
    if (rw < tw || rh < th) throw new Error(`crop ${tw}x${th} is larger than the resized ${rw}x${rh} image (crop_pct ${t.cropPct} > 1 is not supported)`);
    const left = Math.round((rw - tw) / 2);
    const top = Math.round((rh - th) / 2);
    return s.resize(rw, rh, { kernel: KERNEL[t.interpolation], fit: 'fill', fastShrinkOnLoad: false }).extract({ left, top, width: tw, height: th });
  });
  const img = toChannels({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: tw, height: th, channels: 3 }, t.channels);
  return normalizeInPlace(toFloat(img), t.channels, t.mean, t.std);
}

/** Decodes an image at its own size: HWC uint8 RGB. */
export async function loadImageRGB(path: string): Promise<{ data: Buffer; width: number; height: number }> {
  return decode(path, (s) => s);
}

