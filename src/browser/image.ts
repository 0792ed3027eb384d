/**
 * Images in the browser: whatever a page has (an <img>, a canvas, an ImageBitmap, ImageData, a File or
 * Blob, a URL) decoded to RGB pixels with the browser's own decoder, without color-space conversion or
 * premultiplied alpha, so the pixels are the file's.
 */
import type { RawImage } from '../data/dataset.js';

export type ImageInput = ImageBitmap | ImageData | HTMLImageElement | HTMLCanvasElement | OffscreenCanvas | HTMLVideoElement | Blob | string;

/** Width, height and pixel count a decoded image may have (a photo of 50 megapixels passes). */
export const MAX_IMAGE_PIXELS = 50_000_000;

function rgbaToRgb(rgba: Uint8ClampedArray | Uint8Array, width: number, height: number): RawImage {
  const n = width * height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    out[3 * i] = rgba[4 * i]!;
    out[3 * i + 1] = rgba[4 * i + 1]!;
    out[3 * i + 2] = rgba[4 * i + 2]!;
  }
  return { data: out, width, height, channels: 3 };
}

async function toBitmap(input: Exclude<ImageInput, ImageData>, name: string): Promise<CanvasImageSource & { width: number; height: number }> {
  const options: ImageBitmapOptions = { colorSpaceConversion: 'none', premultiplyAlpha: 'none' };
  if (typeof input === 'string') {
    const res = await fetch(input);
    if (!res.ok) throw new Error(`${name}: HTTP ${res.status} ${res.statusText}`);
    return createImageBitmap(await res.blob(), options);
  }
  if (input instanceof Blob) return createImageBitmap(input, options);
  if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement) {
    await input.decode();
    return createImageBitmap(input, options);
  }
  if (typeof HTMLVideoElement !== 'undefined' && input instanceof HTMLVideoElement) return createImageBitmap(input, options);
  return input as CanvasImageSource & { width: number; height: number };
}

function drawingContext(width: number, height: number): CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D {
  const canvas = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(width, height) : Object.assign(document.createElement('canvas'), { width, height });
  const ctx = canvas.getContext('2d', { willReadFrequently: true }) as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new Error('this browser cannot create a 2-D canvas');
  return ctx;
}

/** Decodes `input` to RGB pixels at its own size; `name` labels errors. */
export async function imagePixels(input: ImageInput, name = typeof input === 'string' ? input : 'image'): Promise<RawImage> {
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) return rgbaToRgb(input.data, input.width, input.height);
  let source: CanvasImageSource & { width: number; height: number };
  try {
    source = await toBitmap(input as Exclude<ImageInput, ImageData>, name);
  } catch (e) {
    throw new Error(`${name}: cannot decode image (${(e as Error).message})`);
  }
  const { width, height } = source;
  if (!width || !height) throw new Error(`${name}: the image has no pixels`);
  if (width * height > MAX_IMAGE_PIXELS) throw new Error(`${name}: ${width}x${height} is larger than ${MAX_IMAGE_PIXELS} pixels`);
  const ctx = drawingContext(width, height);
  ctx.drawImage(source, 0, 0);
  return rgbaToRgb(ctx.getImageData(0, 0, width, height).data, width, height);
}

/** RGB pixels as ImageData (opaque), e.g. a segmentation mask or overlay to draw on a canvas. */
export function toImageData(rgb: Uint8Array, width: number, height: number): ImageData {
  const rgba = new Uint8ClampedArray(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba[4 * i] = rgb[3 * i]!;
    rgba[4 * i + 1] = rgb[3 * i + 1]!;
    rgba[4 * i + 2] = rgb[3 * i + 2]!;
    rgba[4 * i + 3] = 255;
  }
  return new ImageData(rgba, width, height);
}
