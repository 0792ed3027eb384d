/**
 * Which image format bytes hold, from their first bytes (pure: shared with a browser entry). vizoo decodes
 * only the raster formats people mean by "an image"; vector and document formats (SVG, PDF, PostScript),
 * whose renderers can be made to run for minutes or read other files, are recognized and refused.
 */

/** Raster formats vizoo decodes. */
export type RasterFormat = 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff' | 'avif';

export const RASTER_FORMATS: readonly RasterFormat[] = ['png', 'jpeg', 'webp', 'gif', 'tiff', 'avif'];

export type SniffedImage = { raster: RasterFormat } | { refused: string } | null;

const ascii = (b: Uint8Array, from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
const startsWith = (b: Uint8Array, sig: number[], at = 0) => b.byteLength >= at + sig.length && sig.every((x, i) => b[at + i] === x);

/** The ISO-BMFF brands of an `ftyp` box at the start (AVIF and HEIF files), or null. */
function ftypBrands(b: Uint8Array): string[] | null {
  if (b.byteLength < 16 || ascii(b, 4, 8) !== 'ftyp') return null;
  const size = Math.min(((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0, b.byteLength, 256);
  const brands = [ascii(b, 8, 12)];
  for (let i = 16; i + 4 <= size; i += 4) brands.push(ascii(b, i, i + 4));
  return brands;
}

/** The format of an image file's bytes: a raster format vizoo decodes, a recognized format it refuses (with a description), or null. */
export function sniffImage(b: Uint8Array): SniffedImage {
  if (startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return { raster: 'png' };
  if (startsWith(b, [0xff, 0xd8, 0xff])) return { raster: 'jpeg' };
  if (b.byteLength >= 6 && /^GIF8[79]a$/.test(ascii(b, 0, 6))) return { raster: 'gif' };
  if (b.byteLength >= 12 && ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP') return { raster: 'webp' };
  if (startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a]) || startsWith(b, [0x49, 0x49, 0x2b, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2b])) return { raster: 'tiff' };
  const brands = ftypBrands(b);
  if (brands) return brands.some((x) => x === 'avif' || x === 'avis') ? { raster: 'avif' } : { refused: 'a HEIF/HEIC image (of the HEIF family only AVIF is supported)' };
  if (startsWith(b, [0x25, 0x50, 0x44, 0x46])) return { refused: 'a PDF document' };
  if (startsWith(b, [0x25, 0x21])) return { refused: 'a PostScript document' };
  if (startsWith(b, [0x42, 0x4d])) return { refused: 'a BMP image (not supported)' };
  // SVG and other XML: optional BOM and whitespace, then '<'.
  let i = startsWith(b, [0xef, 0xbb, 0xbf]) ? 3 : 0;
  while (i < b.byteLength && i < 4096 && (b[i] === 0x20 || b[i] === 0x09 || b[i] === 0x0a || b[i] === 0x0d)) i++;
  if (b[i] === 0x3c) return { refused: 'an SVG or other XML document (a vector format)' };
  if (startsWith(b, [0x1f, 0x8b])) return { refused: 'gzip-compressed data (an SVGZ drawing?)' };
  return null;
}
