/**
 * Byte-level mutations every format gets (bit flips, interesting integers, cut / copy / splice), the
 * interesting values the structure-aware mutators also draw from, and small byte helpers.
 */
import type { Rng } from '../src/nn/rng.js';

/** Values that break length, count and offset handling: signs, word edges, huge. */
export const INTERESTING_U32 = [0, 1, 2, 3, 7, 8, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 1 << 20, 1 << 28, 0x7ffffffe, 0x7fffffff, 0x80000000, 0xfffffffb, 0xfffffffe, 0xffffffff];
export const INTERESTING_I64 = [0n, 1n, -1n, -2n, -5n, 255n, 256n, 65535n, 65536n, 2n ** 28n, 2n ** 31n - 1n, 2n ** 31n, 2n ** 32n - 1n, 2n ** 32n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 62n, 2n ** 63n - 1n, -(2n ** 63n)];
/** Integers as a JSON or pickle value may hold them (fractions, signs, beyond float precision). */
export const INTERESTING_NUMBERS = [0, 1, -1, -2, 2, 3, 4, 1.5, 0.5, -0.5, 255, 256, 65536, 2 ** 28, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, Number.MAX_SAFE_INTEGER];

export function pick<T>(rng: Rng, xs: readonly T[]): T {
  return xs[rng.int(xs.length)]!;
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}

export const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Writes `v` as a `width`-byte little- or big-endian integer at `at` (bytes past the end are dropped). */
export function putInt(b: Uint8Array, at: number, width: number, v: bigint, littleEndian = true): void {
  let x = BigInt.asUintN(width * 8, v);
  for (let i = 0; i < width; i++) {
    const pos = at + (littleEndian ? i : width - 1 - i);
    if (pos >= 0 && pos < b.byteLength) b[pos] = Number(x & 0xffn);
    x >>= 8n;
  }
}

export function interestingInt(rng: Rng, width: number): bigint {
  if (width >= 8 || rng.uniform() < 0.3) return pick(rng, INTERESTING_I64);
  const v = BigInt(pick(rng, INTERESTING_U32));
  return rng.uniform() < 0.5 ? v : v + BigInt(rng.int(5)) - 2n;
}

function randomBytes(rng: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.int(256);
  return b;
}

/** One random byte-level change; returns a new array. */
export function mutateBytes(input: Uint8Array, rng: Rng): Uint8Array {
  const b = input.slice();
  const n = b.byteLength;
  const at = () => rng.int(Math.max(n, 1));
  switch (rng.int(9)) {
    case 0: // flip bits
      for (let k = 1 + rng.int(4); k > 0 && n; k--) b[at()]! ^= 1 << rng.int(8);
      return b;
    case 1: // an interesting byte
      if (n) b[at()] = pick(rng, [0, 1, 0x7f, 0x80, 0xff, 0x0a, 0x28, 0x2e]);
      return b;
    case 2: // an interesting 16/32/64-bit integer
    case 3: {
      const width = pick(rng, [2, 4, 4, 8]);
      putInt(b, at(), width, interestingInt(rng, width), rng.uniform() < 0.8);
      return b;
    }
    case 4: // cut
      return b.subarray(0, at());
    case 5: { // delete a range
      const s = at();
      return concat([b.subarray(0, s), b.subarray(Math.min(n, s + 1 + rng.int(64)))]);
    }
    case 6: { // insert random bytes
      const s = at();
      return concat([b.subarray(0, s), randomBytes(rng, 1 + rng.int(32)), b.subarray(s)]);
    }
    case 7: { // duplicate a range
      const s = at();
      const e = Math.min(n, s + 1 + rng.int(256));
      return concat([b.subarray(0, e), b.subarray(s, e), b.subarray(e)]);
    }
    default: { // copy a range over another
      const s = at();
      const len = Math.min(1 + rng.int(64), n - s);
      b.copyWithin(at(), s, s + len);
      return b;
    }
  }
}
