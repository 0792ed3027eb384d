/**
 * Image decoding and eval preprocessing with sharp, following timm's eval transform: resize the shorter
 * side to floor(size / crop_pct) (torchvision Resize rounding), center-crop, scale to [0, 1], normalize.
 *
 * Images are untrusted input: only raster formats (PNG, JPEG, WebP, GIF's first frame, TIFF, AVIF) are
 * decoded, recognized by their first bytes before sharp sees them (SVG, PDF and other documents are
 * refused), with a pixel limit and a decode time limit. Every failure is an ImageError naming the file.
 */
import type { KernelEnum, Metadata, Sharp } from 'sharp';
import type { Interpolation } from '../models/registry.js';
import { loadSharp } from '../util/optional.js';
import { FileError } from '../util/errors.js';
import { openRegularFile } from '../util/fs.js';
import { RASTER_FORMATS, type RasterFormat, sniffImage } from './image_format.js';
import { type EvalTransform, normalizeInPlace, resizeShorter, toChannels, toFloat } from './transforms.js';

export { type EvalTransform, evalTransformFor } from './transforms.js';

export class ImageError extends FileError {}

/** What vizoo decodes at most: pixels of the first frame, and seconds of decoding per image. */
export const IMAGE_LIMITS = { pixels: 100_000_000, decodeSeconds: 10 };

const KERNEL: Record<Interpolation, keyof KernelEnum> = { bicubic: 'cubic', bilinear: 'linear', nearest: 'nearest' };

const FORMAT_NAMES: Record<RasterFormat, string> = { png: 'PNG', jpeg: 'JPEG', webp: 'WebP', gif: 'GIF', tiff: 'TIFF', avif: 'AVIF' };
const SUPPORTED = RASTER_FORMATS.map((f) => FORMAT_NAMES[f]).join(', ');

/** The raster format of `bytes`, or an ImageError for anything else. */
function rasterFormat(path: string, bytes: Uint8Array, sharp: Awaited<ReturnType<typeof loadSharp>>): RasterFormat {
  const kind = sniffImage(bytes);
  if (!kind) throw new ImageError(path, `not an image (unsupported or unrecognized format; vizoo decodes ${SUPPORTED})`);
  if ('refused' in kind) throw new ImageError(path, `is ${kind.refused}; vizoo decodes raster images only (${SUPPORTED})`);
  if (kind.raster === 'avif' && !sharp.format.heif?.input?.buffer) throw new ImageError(path, 'is an AVIF image, which this build of sharp cannot decode');
  return kind.raster;
}

/** sharp's name for a raster format, as metadata() reports it. */
const SHARP_FORMAT: Record<RasterFormat, string> = { png: 'png', jpeg: 'jpeg', webp: 'webp', gif: 'gif', tiff: 'tiff', avif: 'heif' };

/** A sharp failure in vizoo's words (libvips' own text stays in the error's cause). */
function decodeProblem(e: unknown, format: RasterFormat): string {
  const msg = (e as Error)?.message ?? '';
  if (/timeout/i.test(msg)) return `cannot decode image: decoding took longer than ${IMAGE_LIMITS.decodeSeconds} s`;
  if (/pixel limit/i.test(msg)) return `cannot decode image: it has more than vizoo's limit of ${IMAGE_LIMITS.pixels} pixels`;
  if (/memory/i.test(msg)) return 'cannot decode image: out of memory';
  return `cannot decode image: corrupt, truncated or unsupported ${FORMAT_NAMES[format]} data`;
}

/** 8-bit sRGB (alpha dropped, greyscale expanded). */
const rgb = (s: Sharp): Sharp => s.removeAlpha().toColourspace('srgb');

/** Decodes through `pipeline` (given the image's size) to raw 8-bit pixels of `channels` channels. */
async function decode(path: string, pipeline: (s: Sharp, w: number, h: number) => Sharp, channels = 3): Promise<{ data: Buffer; width: number; height: number }> {
  const sharp = await loadSharp();
  const file = openRegularFile(path, (problem, cause) => {
    throw new ImageError(path, problem, { cause });
  });
  let bytes: Uint8Array;
  let format: RasterFormat;
  try {
    // What the file is, from its first bytes, before it is read whole.
    format = rasterFormat(path, file.read(0, Math.min(file.size, 4096)), sharp);
    bytes = file.read(0, file.size);
  } finally {
    file.close();
  }
  const open = () => sharp(bytes, { failOn: 'error', limitInputPixels: IMAGE_LIMITS.pixels, pages: 1 });
  let meta: Metadata;
  try {
    meta = await open().metadata();
  } catch (cause) {
    throw new ImageError(path, decodeProblem(cause, format), { cause });
  }
  const avif = format === 'avif' && meta.compression === 'av1';
  if (meta.format !== SHARP_FORMAT[format] || (format === 'avif' && !avif)) {
    throw new ImageError(path, `cannot decode image: its ${FORMAT_NAMES[format]} signature does not match its content`);
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (!(width > 0 && height > 0)) throw new ImageError(path, 'cannot decode image: it has no pixels');
  if (width * height > IMAGE_LIMITS.pixels) {
    throw new ImageError(path, `image is ${width}x${height} pixels, more than vizoo's limit of ${IMAGE_LIMITS.pixels}`);
  }
  let img: Sharp;
  try {
    img = pipeline(open().timeout({ seconds: IMAGE_LIMITS.decodeSeconds }), width, height);
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(path, (e as Error).message, { cause: e });
  }
  try {
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== channels) throw new ImageError(path, `cannot decode image: it decodes to ${info.channels} channels`);
    return { data, width: info.width, height: info.height };
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError(path, decodeProblem(e, format), { cause: e });
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
    if (rw * rh > IMAGE_LIMITS.pixels) {
      throw new ImageError(path, `image is ${w}x${h} pixels: resized for the model it would be ${rw}x${rh}, more than vizoo's limit of ${IMAGE_LIMITS.pixels} (an extreme aspect ratio)`);
    }
    if (rw < tw || rh < th) throw new Error(`crop ${tw}x${th} is larger than the resized ${rw}x${rh} image (crop_pct ${t.cropPct} > 1 is not supported)`);
    const left = Math.round((rw - tw) / 2);
    const top = Math.round((rh - th) / 2);
    return rgb(s).resize(rw, rh, { kernel: KERNEL[t.interpolation], fit: 'fill', fastShrinkOnLoad: false }).extract({ left, top, width: tw, height: th });
  });
  const img = toChannels({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: tw, height: th, channels: 3 }, t.channels);
  return normalizeInPlace(toFloat(img), t.channels, t.mean, t.std);
}

/** Decodes an image at its own size: HWC uint8 RGB. */
export async function loadImageRGB(path: string): Promise<{ data: Buffer; width: number; height: number }> {
  return decode(path, rgb);
}

/** Decodes a segmentation mask at its own size: the first channel's 8-bit values (class indices). */
export async function loadMask(path: string): Promise<{ data: Buffer; width: number; height: number }> {
  return decode(path, (s) => s.extractChannel(0), 1);
}

