/**
 * Image mutations: PNG chunks (with CRCs fixed so decoders look past them), JPEG segments, the dimension
 * fields of GIF, WebP, TIFF and AVIF headers, format confusion (another format's signature, XML in front),
 * and vector documents vizoo must refuse (SVG `<use>` bombs, external references).
 */
import type { Rng } from '../src/nn/rng.js';
import { crc32 } from '../src/hub/zip.js';
import { concat, interestingInt, mutateBytes, pick, putInt, utf8 } from './bytes.js';

const DIMS = [0n, 1n, 2n, 255n, 256n, 16383n, 16384n, 65535n, 65536n, 20000n, 100000n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n];

interface Chunk {
  type: string;
  data: Uint8Array;
}

function pngChunks(b: Uint8Array): Chunk[] | null {
  const chunks: Chunk[] = [];
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let p = 8; p + 12 <= b.byteLength; ) {
    const n = v.getUint32(p);
    if (p + 12 + n > b.byteLength) return null;
    chunks.push({ type: String.fromCharCode(...b.subarray(p + 4, p + 8)), data: b.slice(p + 8, p + 8 + n) });
    p += 12 + n;
  }
  return chunks;
}

function pngBytes(chunks: Chunk[], rng: Rng): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])];
  for (const c of chunks) {
    const head = new Uint8Array(8);
    putInt(head, 0, 4, BigInt(c.data.byteLength), false);
    head.set(utf8(c.type).subarray(0, 4), 4);
    const crc = new Uint8Array(4);
    putInt(crc, 0, 4, BigInt(rng.uniform() < 0.9 ? crc32(concat([head.subarray(4), c.data])) : rng.int(2 ** 31)), false);
    parts.push(head, c.data, crc);
  }
  return concat(parts);
}

function mutatePng(b: Uint8Array, rng: Rng): Uint8Array {
  const chunks = pngChunks(b);
  if (!chunks) return mutateBytes(b, rng);
  const i = rng.int(chunks.length);
  switch (rng.int(6)) {
    case 0: case 1: { // IHDR: width, height, bit depth, colour type, interlace
      const ihdr = chunks.find((c) => c.type === 'IHDR');
      if (!ihdr) break;
      const d = ihdr.data.slice();
      const f = rng.int(5);
      if (f < 2) putInt(d, f * 4, 4, pick(rng, DIMS), false);
      else d[6 + f] = pick(rng, [0, 1, 2, 3, 4, 6, 7, 8, 16, 255]);
      ihdr.data = d;
      break;
    }
    case 2: chunks.splice(i, 1); break;
    case 3: chunks.splice(i, 0, { ...chunks[i]! }); break;
    case 4: { // an ancillary chunk with odd content
      const type = pick(rng, ['zTXt', 'iCCP', 'tEXt', 'PLTE', 'tRNS', 'acTL', 'fcTL', 'eXIf', 'sPLT', 'pHYs']);
      chunks.splice(1 + rng.int(Math.max(chunks.length - 1, 1)), 0, { type, data: mutateBytes(new Uint8Array(pick(rng, [0, 4, 13, 1000])), rng) });
      break;
    }
    default: chunks[i] = { ...chunks[i]!, data: mutateBytes(chunks[i]!.data, rng) };
  }
  return pngBytes(chunks, rng);
}

function mutateJpeg(b: Uint8Array, rng: Rng): Uint8Array {
  // Segments: FF xx, 2-byte big-endian length (including itself); SOFn holds height, width.
  const segs: number[] = [];
  for (let p = 2; p + 4 <= b.byteLength && b[p] === 0xff; ) {
    segs.push(p);
    if (b[p + 1] === 0xda) break;
    p += 2 + ((b[p + 2]! << 8) | b[p + 3]!);
  }
  const out = b.slice();
  const sof = segs.find((p) => [0xc0, 0xc1, 0xc2].includes(out[p + 1]!));
  const r = rng.int(4);
  if (r === 0 && sof !== undefined) putInt(out, sof + 5 + 2 * rng.int(2), 2, pick(rng, DIMS), false);
  else if (r === 1 && sof !== undefined) out[sof + 9] = pick(rng, [0, 1, 2, 3, 4, 255]);
  else if (r === 2 && segs.length) putInt(out, pick(rng, segs) + 2, 2, interestingInt(rng, 2), false);
  else return mutateBytes(out, rng);
  return out;
}

/** Sets one header field to an interesting value, the fields given as [offset, width, big-endian]. */
function mutateFields(b: Uint8Array, fields: [number, number, boolean][], rng: Rng): Uint8Array {
  if (!fields.length) return mutateBytes(b, rng);
  const out = b.slice();
  const [at, width, be] = pick(rng, fields);
  putInt(out, at, width, rng.uniform() < 0.6 ? pick(rng, DIMS) : interestingInt(rng, width), !be);
  return out;
}

function gifFields(b: Uint8Array): [number, number, boolean][] {
  const f: [number, number, boolean][] = [[6, 2, false], [8, 2, false], [10, 1, false]];
  const desc = b.indexOf(0x2c, 13);
  if (desc > 0) f.push([desc + 5, 2, false], [desc + 7, 2, false], [desc + 10, 1, false]);
  return f;
}

function webpFields(b: Uint8Array): [number, number, boolean][] {
  const f: [number, number, boolean][] = [[4, 4, false], [16, 4, false]];
  const kind = String.fromCharCode(...b.subarray(12, 16));
  if (kind === 'VP8L') f.push([21, 2, false], [22, 2, false]);
  if (kind === 'VP8X') f.push([24, 3, false], [27, 3, false]);
  if (kind === 'VP8 ') f.push([26, 2, false], [28, 2, false]);
  return f;
}

function tiffFields(b: Uint8Array): [number, number, boolean][] {
  const be = b[0] === 0x4d;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.byteLength < 8) return [];
  const ifd = v.getUint32(4, !be);
  const f: [number, number, boolean][] = [[4, 4, be]];
  if (ifd + 2 > b.byteLength) return f;
  const n = v.getUint16(ifd, !be);
  for (let i = 0; i < n && ifd + 2 + 12 * i + 12 <= b.byteLength; i++) {
    const e = ifd + 2 + 12 * i;
    f.push([e + 4, 4, be], [e + 8, 4, be]); // count and value/offset of every tag
  }
  f.push([ifd + 2 + 12 * n, 4, be]); // next IFD (a loop back to this one)
  return f;
}

function boxFields(b: Uint8Array): [number, number, boolean][] {
  const f: [number, number, boolean][] = [];
  const walk = (start: number, end: number, depth: number) => {
    for (let p = start; p + 8 <= end && depth < 5; ) {
      const size = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
      const type = String.fromCharCode(...b.subarray(p + 4, p + 8));
      f.push([p, 4, true]);
      if (type === 'ispe') f.push([p + 12, 4, true], [p + 16, 4, true]);
      if (size < 8 || p + size > end) return;
      if (['meta', 'iprp', 'ipco', 'moov', 'trak'].includes(type)) walk(p + (type === 'meta' ? 12 : 8), p + size, depth + 1);
      p += size;
    }
  };
  walk(0, b.byteLength, 0);
  return f;
}

const SIGNATURES = [
  [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], [0xff, 0xd8, 0xff, 0xe0], utf8('GIF89a'), utf8('RIFF\0\0\0\0WEBP'), [0x49, 0x49, 0x2a, 0],
  [0x4d, 0x4d, 0, 0x2a], utf8('\0\0\0\x1cftypavif'), utf8('\0\0\0\x18ftypheic'), utf8('%PDF-1.7\n'), utf8('BM'), utf8('<?xml version="1.0"?>'), utf8('\uFEFF <svg'),
].map((s) => Uint8Array.from(s));

function vectorDocument(rng: Rng): Uint8Array {
  const use = Array.from({ length: 10 }, (_, i) => `<g id="l${i + 1}">${Array.from({ length: 10 }, () => `<use href="#l${i}"/>`).join('')}</g>`).join('');
  return utf8(pick(rng, [
    `<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><filter id="f"><feGaussianBlur stdDeviation="9999"/></filter><rect width="100%" height="100%" filter="url(#f)"/></svg>`,
    `<svg xmlns="http://www.w3.org/2000/svg"><g id="l0"><rect width="1" height="1"/></g>${use}</svg>`,
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="file:///etc/passwd" width="10" height="10"/></svg>`,
    `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg"><text>&x;</text></svg>`,
  ]));
}

export function mutateImage(seed: Uint8Array, rng: Rng): Uint8Array {
  const r = rng.uniform();
  if (r < 0.05) return vectorDocument(rng);
  if (r < 0.1) { // another format's signature over this one's, or in front of it
    const sig = pick(rng, SIGNATURES);
    return rng.uniform() < 0.5 ? concat([sig, seed.subarray(sig.byteLength)]) : concat([sig, seed]);
  }
  const head = String.fromCharCode(...seed.subarray(0, 12));
  if (head.startsWith('\x89PNG')) return mutatePng(seed, rng);
  if (seed[0] === 0xff && seed[1] === 0xd8) return mutateJpeg(seed, rng);
  if (head.startsWith('GIF8')) return mutateFields(seed, gifFields(seed), rng);
  if (head.startsWith('RIFF')) return mutateFields(seed, webpFields(seed), rng);
  if (head.startsWith('II*') || head.startsWith('MM\0*')) return mutateFields(seed, tiffFields(seed), rng);
  if (head.slice(4, 8) === 'ftyp') return mutateFields(seed, boxFields(seed), rng);
  return mutateBytes(seed, rng);
}
