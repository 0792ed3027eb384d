/**
 * A minimal protobuf wire-format reader for the few ONNX messages weights live in. It decodes only the
 * fields it is asked for, one message level at a time (no recursion into messages nobody reads, so a
 * deeply nested graph costs nothing), keeps length-delimited fields as views of the input, and decodes
 * packed numbers straight into typed arrays: memory stays proportional to what is read. Every length and
 * varint is checked against the bytes that remain.
 */

/** One field of a message: a varint (as `lo`/`hi` 32-bit halves), fixed bytes, or a length-delimited view. */
export interface ProtoField {
  no: number;
  wire: number;
  lo: number;
  hi: number;
  bytes: Uint8Array;
}

export type Fail = (problem: string) => never;

const EMPTY = new Uint8Array(0);

/** Reads a varint at `pos` into `out` ([lo, hi, next position]); at most 10 bytes, 64 bits. */
function varint(b: Uint8Array, pos: number, fail: Fail, out: number[]): void {
  let lo = 0;
  let hi = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.byteLength) fail('protobuf data ends inside a number (truncated file?)');
    const c = b[pos++]!;
    if (i < 4) lo |= (c & 0x7f) << (7 * i);
    else if (i === 4) {
      lo |= (c & 0x0f) << 28;
      hi |= (c & 0x7f) >>> 4;
    } else hi |= (c & 0x7f) << (7 * i - 32);
    if (!(c & 0x80)) {
      out[0] = lo >>> 0;
      out[1] = hi >>> 0;
      out[2] = pos;
      return;
    }
  }
  fail('protobuf number longer than 10 bytes');
}

/** The fields of one message, in order. */
export function* protoFields(b: Uint8Array, fail: Fail): Generator<ProtoField> {
  const v = [0, 0, 0];
  let pos = 0;
  while (pos < b.byteLength) {
    varint(b, pos, fail, v);
    pos = v[2]!;
    if (v[1] !== 0 || v[0]! >>> 3 === 0) fail('invalid protobuf field tag');
    const no = v[0]! >>> 3;
    const wire = v[0]! & 7;
    const f: ProtoField = { no, wire, lo: 0, hi: 0, bytes: EMPTY };
    if (wire === 0) {
      varint(b, pos, fail, v);
      [f.lo, f.hi, pos] = v as [number, number, number];
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (pos + n > b.byteLength) fail('protobuf data ends inside a fixed-size number (truncated file?)');
      f.bytes = b.subarray(pos, pos + n);
      pos += n;
    } else if (wire === 2) {
      varint(b, pos, fail, v);
      pos = v[2]!;
      if (v[1] !== 0 || v[0]! > b.byteLength - pos) fail(`protobuf field ${no} claims more bytes than the message holds (truncated file?)`);
      f.bytes = b.subarray(pos, pos + v[0]!);
      pos += v[0]!;
    } else fail(`unsupported protobuf wire type ${wire} (field ${no})`);
    yield f;
  }
}

/** A varint field as protobuf's int32 / enum (the low 32 bits, signed). */
export const int32Of = (f: ProtoField): number => f.lo | 0;

const utf8 = new TextDecoder('utf-8');
export const stringOf = (f: ProtoField, fail: Fail): string => (f.wire === 2 ? utf8.decode(f.bytes) : fail(`protobuf field ${f.no} is not a string`));

/** Counts the varints in a packed field (bytes without the continuation bit). */
function countVarints(b: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < b.byteLength; i++) if (!(b[i]! & 0x80)) n++;
  return n;
}

/**
 * A repeated numeric field gathered from all its occurrences, packed or not, as raw little-endian
 * elements of `width` bytes: fixed-size fields are copied, varints decoded (`int64` keeps 8 bytes, else 4).
 */
export class RepeatedNumbers {
  /** Occurrences in field order: packed runs and fixed values as bytes, single varints as fields. */
  private parts: (Uint8Array | ProtoField)[] = [];
  count = 0;

  constructor(
    readonly kind: 'fixed32' | 'fixed64' | 'varint32' | 'varint64',
    private readonly fail: Fail,
  ) {}

  get width(): number {
    return this.kind === 'fixed64' || this.kind === 'varint64' ? 8 : 4;
  }

  private get fixedWire(): number {
    return this.kind === 'fixed32' ? 5 : this.kind === 'fixed64' ? 1 : 0;
  }

  add(f: ProtoField): void {
    const fixed = this.fixedWire;
    if (f.wire === 2) {
      if (fixed && f.bytes.byteLength % this.width) this.fail(`packed protobuf field ${f.no} is not a whole number of ${this.width}-byte values`);
      if (!fixed && f.bytes.byteLength && f.bytes[f.bytes.byteLength - 1]! & 0x80) this.fail(`packed protobuf field ${f.no} ends inside a number`);
      this.parts.push(f.bytes);
      this.count += fixed ? f.bytes.byteLength / this.width : countVarints(f.bytes);
    } else if (fixed && f.wire === fixed) {
      this.parts.push(f.bytes);
      this.count++;
    } else if (!fixed && f.wire === 0) {
      this.parts.push(f);
      this.count++;
    } else this.fail(`protobuf field ${f.no} has wire type ${f.wire}, not a number`);
  }

  /** The elements in field order, `width` bytes each, little-endian. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.count * this.width);
    if (this.fixedWire) {
      let o = 0;
      for (const c of this.parts as Uint8Array[]) (out.set(c, o), (o += c.byteLength));
      return out;
    }
    const view = new DataView(out.buffer);
    let o = 0;
    const put = (lo: number, hi: number) => {
      view.setUint32(o, lo, true);
      if (this.width === 8) view.setUint32(o + 4, hi, true);
      o += this.width;
    };
    const v = [0, 0, 0];
    for (const part of this.parts) {
      if (!(part instanceof Uint8Array)) put(part.lo, part.hi);
      else
        for (let p = 0; p < part.byteLength; ) {
          varint(part, p, this.fail, v);
          put(v[0]!, v[1]!);
          p = v[2]!;
        }
    }
    return out;
  }
}
