/**
 * A ZIP reader and writer for PyTorch checkpoints. `torch.save` writes STORED entries (uncompressed, with
 * data descriptors and 64-byte alignment padding) and switches to ZIP64 records past 4 GiB or 65535 entries.
 * The reader works from the central directory (so a truncated file, which lacks it, is a clear error) and
 * reads entries by position from a ByteSource: a multi-gigabyte checkpoint is never held whole in memory.
 * Deflated entries (zips repacked by other tools) are inflated with fflate. Every offset, size and count
 * is checked against the archive before anything is read or allocated: an entry cannot claim more bytes
 * than deflate can produce from its compressed data. Pure: the Node file source is in ./weight_files.ts.
 */
import { inflateSync } from 'fflate';
import { WeightsFormatError } from '../util/errors.js';
import { quote } from '../util/summary.js';

/** A PyTorch checkpoint's ZIP structure is broken. */
export class ZipFormatError extends WeightsFormatError {}

/** Random access to bytes: a file read by position, or a buffer. Callers read only within [0, size). */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

export function bufferSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.byteLength, read: (o, n) => bytes.subarray(o, o + n), close: () => undefined };
}

export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const U32_MAX = 0xffffffff;
/** Deflate expands at most 1032:1 (a 258-byte match per 2 bits); an entry claiming more is corrupt or a bomb. */
const DEFLATE_MAX_RATIO = 1032;

function viewOf(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

export class ZipReader {
  readonly entries = new Map<string, ZipEntry>();

  constructor(
    private readonly src: ByteSource,
    readonly file: string,
  ) {
    this.readDirectory();
  }

  private fail(problem: string): never {
    throw new ZipFormatError(this.file, problem);
  }

  /** A 64-bit field as a number; any value past the file's size is refused (no field may point beyond it). */
  private u64(view: DataView, off: number, what: string): number {
    if (off + 8 > view.byteLength) this.fail(`${what} is cut off`);
    const v = view.getBigUint64(off, true);
    if (v > BigInt(this.src.size) * BigInt(DEFLATE_MAX_RATIO)) this.fail(`${what} ${v} is impossible in a ${this.src.size}-byte file`);
    return Number(v);
  }

  private readDirectory(): void {
    const { size } = this.src;
    if (size < 22) this.fail(`file is ${size} bytes, too short for a ZIP archive`);
    const tailLen = Math.min(size, 22 + 0xffff);
    const tail = this.src.read(size - tailLen, tailLen);
    const tv = viewOf(tail);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) {
      if (tv.getUint32(i, true) === SIG_EOCD) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) this.fail('no ZIP end-of-central-directory record: the file is truncated or not a ZIP archive');
    let count = tv.getUint16(eocd + 10, true);
    let cdSize = tv.getUint32(eocd + 12, true);
    let cdOffset = tv.getUint32(eocd + 16, true);
    if (count === 0xffff || cdSize === U32_MAX || cdOffset === U32_MAX) {
      // ZIP64: the locator sits right before the classic record and points at the 64-bit one.
      const locAt = size - tailLen + eocd - 20;
      if (locAt < 0) this.fail('ZIP64 end-of-central-directory locator missing');
      const loc = viewOf(this.src.read(locAt, 20));
      if (loc.getUint32(0, true) !== SIG_EOCD64_LOCATOR) this.fail('ZIP64 end-of-central-directory locator missing');
      const recAt = this.u64(loc, 8, 'ZIP64 end-of-central-directory offset');
      if (recAt + 56 > size) this.fail('ZIP64 end-of-central-directory record lies past the end of the file');
      const rec = viewOf(this.src.read(recAt, 56));
      if (rec.getUint32(0, true) !== SIG_EOCD64) this.fail('bad ZIP64 end-of-central-directory record');
      count = this.u64(rec, 32, 'ZIP64 entry count');
      cdSize = this.u64(rec, 40, 'ZIP64 central directory size');
      cdOffset = this.u64(rec, 48, 'ZIP64 central directory offset');
    }
    if (cdOffset + cdSize > size) this.fail(`central directory (bytes ${cdOffset}..${cdOffset + cdSize}) lies past the end of the ${size}-byte file (truncated?)`);
    if (count * 46 > cdSize) this.fail(`central directory of ${cdSize} bytes cannot hold the ${count} entries it claims`);
    const cd = this.src.read(cdOffset, cdSize);
    const v = viewOf(cd);
    let p = 0;
    const dec = new TextDecoder();
    for (let i = 0; i < count; i++) {
      if (p + 46 > cd.byteLength || v.getUint32(p, true) !== SIG_CENTRAL) this.fail(`central directory entry ${i} is malformed`);
      const method = v.getUint16(p + 10, true);
      let compressedSize = v.getUint32(p + 20, true);
      let usize = v.getUint32(p + 24, true);
      const nameLen = v.getUint16(p + 28, true);
      const extraLen = v.getUint16(p + 30, true);
      const commentLen = v.getUint16(p + 32, true);
      let localHeaderOffset = v.getUint32(p + 42, true);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cd.byteLength) this.fail(`central directory entry ${i} runs past the end of the directory`);
      const name = dec.decode(cd.subarray(p + 46, p + 46 + nameLen));
      // ZIP64 extended information: 64-bit values for exactly the fields that hold 0xFFFFFFFF, in this order.
      let e = p + 46 + nameLen;
      const eEnd = e + extraLen;
      while (e + 4 <= eEnd) {
        const id = v.getUint16(e, true);
        const len = v.getUint16(e + 2, true);
        if (e + 4 + len > eEnd) this.fail(`entry ${quote(name)} has an extra field running past its record`);
        if (id === 0x0001) {
          const field = new DataView(cd.buffer, cd.byteOffset + e + 4, len);
          let q = 0;
          const next = (what: string) => ((q += 8), this.u64(field, q - 8, `entry ${quote(name)}: ZIP64 ${what}`));
          if (usize === U32_MAX) usize = next('size');
          if (compressedSize === U32_MAX) compressedSize = next('compressed size');
          if (localHeaderOffset === U32_MAX) localHeaderOffset = next('local header offset');
        }
        e += 4 + len;
      }
      this.checkEntry(name, method, compressedSize, usize, localHeaderOffset);
      this.entries.set(name, { name, method, compressedSize, size: usize, localHeaderOffset });
      p = end;
    }
  }

  private checkEntry(name: string, method: number, compressedSize: number, size: number, localHeaderOffset: number): void {
    const what = `entry ${quote(name)}`;
    if (localHeaderOffset + 30 + compressedSize > this.src.size) {
      this.fail(`${what} (${compressedSize} bytes at ${localHeaderOffset}) lies past the end of the ${this.src.size}-byte file (truncated?)`);
    }
    if (method === 0 && size !== compressedSize) this.fail(`${what} is stored uncompressed but claims ${size} bytes in ${compressedSize}`);
    if (method === 8 && size > compressedSize * DEFLATE_MAX_RATIO + 64) {
      this.fail(`${what} claims ${size} bytes from ${compressedSize} compressed bytes, more than deflate can produce (corrupt, or a zip bomb)`);
    }
  }

  /** The uncompressed bytes of an entry. */
  read(name: string): Uint8Array {
    const e = this.entries.get(name);
    const what = `entry ${quote(name)}`;
    if (!e) this.fail(`archive has no ${what}`);
    const lh = viewOf(this.src.read(e.localHeaderOffset, 30));
    if (lh.getUint32(0, true) !== SIG_LOCAL) this.fail(`${what} has no local header`);
    const start = e.localHeaderOffset + 30 + lh.getUint16(26, true) + lh.getUint16(28, true);
    if (start + e.compressedSize > this.src.size) this.fail(`${what} (${e.compressedSize} bytes at ${start}) lies past the end of the ${this.src.size}-byte file (truncated?)`);
    const raw = this.src.read(start, e.compressedSize);
    if (e.method === 0) return raw;
    if (e.method === 8) {
      let out: Uint8Array;
      try {
        // One byte of room past the claimed size: fflate stops writing at the end of a given buffer, so a
        // stream longer than its claim shows as a full buffer.
        out = inflateSync(raw, { out: new Uint8Array(e.size + 1) });
      } catch (cause) {
        throw new ZipFormatError(this.file, `${what} holds corrupt deflate data`, { cause });
      }
      if (out.byteLength > e.size) this.fail(`${what} inflates to more than the ${e.size} bytes the directory says`);
      if (out.byteLength < e.size) this.fail(`${what} inflates to ${out.byteLength} bytes, the directory says ${e.size}`);
      return out;
    }
    this.fail(`${what} uses compression method ${e.method} (only stored and deflate are supported)`);
  }
}

/** True when the first bytes are a ZIP local header. */
export function looksLikeZip(head: Uint8Array): boolean {
  return head.byteLength >= 4 && viewOf(head).getUint32(0, true) === SIG_LOCAL;
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.byteLength; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Writes a STORED zip as torch.save does: entry data aligned to 64 bytes (padding in the local extra
 * field), ZIP64 records when needed or when `zip64` forces them. Returns the chunks to write in order.
 */
export function buildStoredZip(entries: { name: string; data: Uint8Array }[], opts: { zip64?: boolean } = {}): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const enc = new TextEncoder();
  for (const { name, data } of entries) {
    const nameBytes = enc.encode(name);
    const big = opts.zip64 || data.byteLength >= U32_MAX || offset >= U32_MAX;
    const z64Local = big ? 20 : 0;
    const base = offset + 30 + nameBytes.byteLength + z64Local + 4;
    const pad = (64 - (base % 64)) % 64;
    const local = new Uint8Array(30 + nameBytes.byteLength + z64Local + 4 + pad);
    const lv = viewOf(local);
    const crc = crc32(data);
    lv.setUint32(0, SIG_LOCAL, true);
    lv.setUint16(4, big ? 45 : 20, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, big ? U32_MAX : data.byteLength, true);
    lv.setUint32(22, big ? U32_MAX : data.byteLength, true);
    lv.setUint16(26, nameBytes.byteLength, true);
    lv.setUint16(28, z64Local + 4 + pad, true);
    local.set(nameBytes, 30);
    let q = 30 + nameBytes.byteLength;
    if (big) {
      lv.setUint16(q, 0x0001, true);
      lv.setUint16(q + 2, 16, true);
      lv.setBigUint64(q + 4, BigInt(data.byteLength), true);
      lv.setBigUint64(q + 12, BigInt(data.byteLength), true);
      q += 20;
    }
    lv.setUint16(q, 0x4646, true); // padding field ("FF", as torch writes)
    lv.setUint16(q + 2, pad, true);
    const cz64 = big ? 28 : 0;
    const c = new Uint8Array(46 + nameBytes.byteLength + cz64);
    const cv = viewOf(c);
    cv.setUint32(0, SIG_CENTRAL, true);
    cv.setUint16(4, big ? 45 : 20, true);
    cv.setUint16(6, big ? 45 : 20, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, big ? U32_MAX : data.byteLength, true);
    cv.setUint32(24, big ? U32_MAX : data.byteLength, true);
    cv.setUint16(28, nameBytes.byteLength, true);
    cv.setUint16(30, cz64, true);
    cv.setUint32(42, big ? U32_MAX : offset, true);
    c.set(nameBytes, 46);
    if (big) {
      const z = 46 + nameBytes.byteLength;
      cv.setUint16(z, 0x0001, true);
      cv.setUint16(z + 2, 24, true);
      cv.setBigUint64(z + 4, BigInt(data.byteLength), true);
      cv.setBigUint64(z + 12, BigInt(data.byteLength), true);
      cv.setBigUint64(z + 20, BigInt(offset), true);
    }
    chunks.push(local, data);
    central.push(c);
    offset += local.byteLength + data.byteLength;
  }
  const cdOffset = offset;
  const cdSize = central.reduce((s, c) => s + c.byteLength, 0);
  chunks.push(...central);
  const need64 = opts.zip64 || entries.length >= 0xffff || cdOffset >= U32_MAX || cdSize >= U32_MAX;
  if (need64) {
    const rec = new Uint8Array(56);
    const rv = viewOf(rec);
    rv.setUint32(0, SIG_EOCD64, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(entries.length), true);
    rv.setBigUint64(32, BigInt(entries.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(cdOffset), true);
    const loc = new Uint8Array(20);
    const locv = viewOf(loc);
    locv.setUint32(0, SIG_EOCD64_LOCATOR, true);
    locv.setBigUint64(8, BigInt(cdOffset + cdSize), true);
    locv.setUint32(16, 1, true);
    chunks.push(rec, loc);
  }
  const end = new Uint8Array(22);
  const ev = viewOf(end);
  ev.setUint32(0, SIG_EOCD, true);
  ev.setUint16(8, need64 ? 0xffff : entries.length, true);
  ev.setUint16(10, need64 ? 0xffff : entries.length, true);
  ev.setUint32(12, need64 ? U32_MAX : cdSize, true);
  ev.setUint32(16, need64 ? U32_MAX : cdOffset, true);
  chunks.push(end);
  return chunks;
}
