/**
 * A ZIP writer for the fuzzer that can deflate entries and force ZIP64 records, and that reports where
 * every numeric field of every record lies, so a mutation can set one to a lie.
 */
import { deflateSync } from 'fflate';
import { crc32 } from '../src/hub/zip.js';
import { concat, utf8 } from './bytes.js';

export interface ZipInput {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
}

/** A numeric field: where it is and how wide. */
export interface ZipField {
  at: number;
  width: number;
}

class Writer {
  parts: Uint8Array[] = [];
  size = 0;
  fields: ZipField[] = [];

  int(v: number | bigint, width: number, field = true): void {
    const b = new Uint8Array(width);
    let x = BigInt(v);
    for (let i = 0; i < width; i++) (b[i] = Number(x & 0xffn)), (x >>= 8n);
    if (field) this.fields.push({ at: this.size, width });
    this.raw(b);
  }

  raw(b: Uint8Array): void {
    this.parts.push(b);
    this.size += b.byteLength;
  }
}

const SIG = { local: 0x04034b50, central: 0x02014b50, eocd: 0x06054b50, eocd64: 0x06064b50, locator: 0x07064b50 };

/** Builds the archive; `fields` lists every size, count, offset and length field written. */
export function buildZip(entries: ZipInput[], zip64 = false): { bytes: Uint8Array; fields: ZipField[] } {
  const w = new Writer();
  const stored = entries.map((e) => ({ ...e, packed: e.deflate ? deflateSync(e.data) : e.data, name8: utf8(e.name), offset: 0, crc: crc32(e.data) }));
  const big = (v: number) => (zip64 ? 0xffffffff : v);
  for (const e of stored) {
    e.offset = w.size;
    w.int(SIG.local, 4, false);
    w.int(zip64 ? 45 : 20, 2);
    w.int(0, 2);
    w.int(e.deflate ? 8 : 0, 2);
    w.int(0, 4, false); // time, date
    w.int(e.crc, 4, false);
    w.int(big(e.packed.byteLength), 4);
    w.int(big(e.data.byteLength), 4);
    w.int(e.name8.byteLength, 2);
    w.int(zip64 ? 20 : 0, 2);
    w.raw(e.name8);
    if (zip64) {
      w.int(1, 2, false);
      w.int(16, 2);
      w.int(e.data.byteLength, 8);
      w.int(e.packed.byteLength, 8);
    }
    w.raw(e.packed);
  }
  const cdOffset = w.size;
  for (const e of stored) {
    w.int(SIG.central, 4, false);
    w.int(zip64 ? 45 : 20, 2, false);
    w.int(zip64 ? 45 : 20, 2);
    w.int(0, 2);
    w.int(e.deflate ? 8 : 0, 2);
    w.int(0, 4, false);
    w.int(e.crc, 4, false);
    w.int(big(e.packed.byteLength), 4);
    w.int(big(e.data.byteLength), 4);
    w.int(e.name8.byteLength, 2);
    w.int(zip64 ? 28 : 0, 2);
    w.int(0, 2); // comment length
    w.int(0, 2, false);
    w.int(0, 2, false);
    w.int(0, 4, false);
    w.int(big(e.offset), 4);
    w.raw(e.name8);
    if (zip64) {
      w.int(1, 2, false);
      w.int(24, 2);
      w.int(e.data.byteLength, 8);
      w.int(e.packed.byteLength, 8);
      w.int(e.offset, 8);
    }
  }
  const cdSize = w.size - cdOffset;
  if (zip64) {
    const recAt = w.size;
    w.int(SIG.eocd64, 4, false);
    w.int(44, 8);
    w.int(45, 2, false);
    w.int(45, 2, false);
    w.int(0, 4, false);
    w.int(0, 4, false);
    w.int(stored.length, 8);
    w.int(stored.length, 8);
    w.int(cdSize, 8);
    w.int(cdOffset, 8);
    w.int(SIG.locator, 4, false);
    w.int(0, 4, false);
    w.int(recAt, 8);
    w.int(1, 4);
  }
  w.int(SIG.eocd, 4, false);
  w.int(0, 2, false);
  w.int(0, 2, false);
  w.int(zip64 ? 0xffff : stored.length, 2);
  w.int(zip64 ? 0xffff : stored.length, 2);
  w.int(zip64 ? 0xffffffff : cdSize, 4);
  w.int(zip64 ? 0xffffffff : cdOffset, 4);
  w.int(0, 2);
  return { bytes: concat(w.parts), fields: w.fields };
}
