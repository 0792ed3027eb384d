/**
 * Pickles as opcode lists for the fuzzer: a disassembler, an assembler, a small emitter for seeds, and
 * opcode-level mutations (argument and length lies, inserted, dropped and repeated opcodes, deep nesting,
 * cycles, copy bombs, forbidden globals, tensor rebuilds with bad offsets, sizes and strides).
 */
import type { Rng } from '../src/nn/rng.js';
import { INTERESTING_NUMBERS, concat, interestingInt, pick, putInt, utf8 } from './bytes.js';

/** How an opcode's argument is laid out. */
type Arg = 'none' | 'u1' | 'u2' | 'i4' | 'u4' | 'f8' | 'u8' | 'line' | 'line2' | 'len1' | 'len4s' | 'len4' | 'len8';

const ARGS: Record<number, Arg> = {
  0x80: 'u1', 0x95: 'u8', 0x28: 'none', 0x2e: 'none', 0x30: 'none', 0x31: 'none', 0x32: 'none',
  0x46: 'line', 0x49: 'line', 0x4a: 'i4', 0x4b: 'u1', 0x4d: 'u2', 0x4c: 'line', 0x8a: 'len1', 0x8b: 'len4s',
  0x47: 'f8', 0x53: 'line', 0x54: 'len4s', 0x55: 'len1', 0x56: 'line', 0x58: 'len4', 0x8c: 'len1', 0x8d: 'len8',
  0x42: 'len4', 0x43: 'len1', 0x8e: 'len8', 0x96: 'len8', 0x4e: 'none', 0x88: 'none', 0x89: 'none', 0x29: 'none',
  0x74: 'none', 0x85: 'none', 0x86: 'none', 0x87: 'none', 0x5d: 'none', 0x6c: 'none', 0x61: 'none', 0x65: 'none',
  0x7d: 'none', 0x64: 'none', 0x73: 'none', 0x75: 'none', 0x8f: 'none', 0x90: 'none', 0x91: 'none', 0x70: 'line',
  0x71: 'u1', 0x72: 'u4', 0x94: 'none', 0x67: 'line', 0x68: 'u1', 0x6a: 'u4', 0x63: 'line2', 0x93: 'none',
  0x69: 'line2', 0x6f: 'none', 0x52: 'none', 0x81: 'none', 0x92: 'none', 0x62: 'none', 0x50: 'line', 0x51: 'none',
  0x82: 'u1', 0x83: 'u2', 0x84: 'i4',
};

const FIXED: Partial<Record<Arg, number>> = { u1: 1, u2: 2, i4: 4, u4: 4, f8: 8, u8: 8, len1: 1, len4s: 4, len4: 4, len8: 8 };

/** One opcode: its byte, its fixed argument bytes (a length prefix for data opcodes) and any data after them. */
export interface Op {
  op: number;
  pre: Uint8Array;
  data: Uint8Array;
}

export const op = (code: number, pre: number[] | Uint8Array = [], data: Uint8Array = new Uint8Array(0)): Op => ({ op: code, pre: Uint8Array.from(pre), data });

/** The opcodes of the pickle at `pos` up to and including STOP, and where it ends; null when it does not parse. */
export function disassemble(b: Uint8Array, pos = 0): { ops: Op[]; end: number } | null {
  const ops: Op[] = [];
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  while (pos < b.byteLength) {
    const code = b[pos++]!;
    const arg = ARGS[code];
    if (!arg) return null;
    if (arg === 'line' || arg === 'line2') {
      let end = b.indexOf(0x0a, pos);
      if (end < 0) return null;
      if (arg === 'line2') {
        end = b.indexOf(0x0a, end + 1);
        if (end < 0) return null;
      }
      ops.push(op(code, [], b.slice(pos, end + 1)));
      pos = end + 1;
    } else {
      const k = FIXED[arg] ?? 0;
      if (pos + k > b.byteLength) return null;
      const pre = b.slice(pos, pos + k);
      pos += k;
      let n = 0;
      if (arg === 'len1') n = pre[0]!;
      else if (arg === 'len4s' || arg === 'len4') n = view.getUint32(pos - 4, true);
      else if (arg === 'len8') n = Number(view.getBigUint64(pos - 8, true));
      if (n > b.byteLength - pos) return null;
      ops.push(op(code, pre, b.slice(pos, pos + n)));
      pos += n;
    }
    if (code === 0x2e) return { ops, end: pos };
  }
  return null;
}

export function assemble(ops: Op[]): Uint8Array {
  return concat(ops.flatMap((o) => [Uint8Array.of(o.op), o.pre, o.data]));
}

/** Emits opcodes for seeds. */
export const emit = {
  int(v: number): Op {
    if (v >= 0 && v < 256) return op(0x4b, [v]);
    if (v >= 0 && v < 65536) return op(0x4d, [v & 0xff, v >> 8]);
    const pre = new Uint8Array(4);
    putInt(pre, 0, 4, BigInt(v));
    return op(0x4a, pre);
  },
  long(v: bigint): Op {
    const data = new Uint8Array(8);
    putInt(data, 0, 8, v);
    return op(0x8a, [8], data);
  },
  str(s: string): Op {
    const data = utf8(s);
    const pre = new Uint8Array(4);
    putInt(pre, 0, 4, BigInt(data.byteLength));
    return op(0x58, pre, data);
  },
  global: (module: string, name: string): Op => op(0x63, [], utf8(`${module}\n${name}\n`)),
  mark: (): Op => op(0x28),
  tuple: (): Op => op(0x74),
  reduce: (): Op => op(0x52),
  none: (): Op => op(0x4e),
  stop: (): Op => op(0x2e),
};

/** A tuple of integers: MARK ints TUPLE. */
export const intTuple = (xs: number[]): Op[] => [emit.mark(), ...xs.map(emit.int), emit.tuple()];

const EVIL_GLOBALS: [string, string][] = [
  ['posix', 'system'], ['os', 'system'], ['builtins', 'eval'], ['builtins', 'exec'], ['__builtin__', 'getattr'],
  ['subprocess', 'Popen'], ['builtins', '__import__'], ['torch', 'load'], ['numpy', 'load'], ['collections', 'defaultdict'],
];
const SAFE_GLOBALS: [string, string][] = [
  ['collections', 'OrderedDict'], ['torch._utils', '_rebuild_tensor_v2'], ['torch._utils', '_rebuild_parameter'],
  ['torch._tensor', '_rebuild_from_type_v2'], ['torch', 'FloatStorage'], ['torch', 'LongStorage'], ['torch', 'HalfStorage'],
  ['torch', 'Size'], ['builtins', 'set'], ['builtins', 'list'], ['builtins', 'tuple'], ['__builtin__', 'frozenset'],
  ['_codecs', 'encode'], ['numpy.core.multiarray', 'scalar'], ['numpy.core.multiarray', '_reconstruct'], ['numpy', 'dtype'],
  ['argparse', 'Namespace'], ['torch.nn.parameter', 'Parameter'],
];
/** Strings that reach key maps, prefixes and odd corners of messages. */
export const INTERESTING_KEYS = [
  'module.conv.weight', 'model.head.bias', 'state_dict', 'model', '__proto__', 'constructor', 'storage', '',
  'nat.encoder.levels.0.layers.0.attention.self.query.weight', 'nat.encoder.levels.0.layers.0.layer_scale_parameters',
  'van.encoder.stages.0.embeddings.convolution.weight', 'layers.0.blocks.0.ln_1.weight', 'a\nb', 'x'.repeat(5000), '\u2028', 'bn.num_batches_tracked',
];

function numberOp(rng: Rng): Op {
  const v = pick(rng, INTERESTING_NUMBERS);
  switch (rng.int(5)) {
    case 0: return emit.long(interestingInt(rng, 8));
    case 1: {
      const data = new Uint8Array(8);
      new DataView(data.buffer).setFloat64(0, v, false);
      return op(0x47, [], data);
    }
    case 2: return emit.str(String(v));
    case 3: return emit.none();
    default: return Number.isSafeInteger(v) && v >= -(2 ** 31) && v < 2 ** 31 ? emit.int(v) : emit.long(BigInt(Math.trunc(Math.min(Math.max(v, -(2 ** 62)), 2 ** 62))));
  }
}

/** Sequences that stress an unpickler; each leaves one value on the stack. */
function gadget(rng: Rng): Op[] {
  const n = pick(rng, [10, 1000, 100_000, 300_000]);
  switch (rng.int(11)) {
    case 0: return [op(0x29), ...Array.from({ length: n }, () => op(0x85))]; // deep TUPLE1 nesting
    case 1: return [op(0x5d), emit.mark(), ...Array.from({ length: n }, () => emit.none()), op(0x65)]; // huge APPENDS
    case 2: return [...Array.from({ length: Math.min(n, 5000) }, () => emit.mark()), emit.none()]; // MARK flood
    case 3: return [op(0x5d), op(0x72, [7, 0, 0, 0]), op(0x6a, [7, 0, 0, 0]), op(0x61)]; // a list containing itself
    case 4: return [op(0x7d), op(0x72, [9, 0, 0, 0]), emit.str('model'), op(0x6a, [9, 0, 0, 0]), op(0x73)]; // {'model': itself}
    case 5: { // copy bomb: one big list copied by list() many times
      const big = [op(0x5d), emit.mark(), ...Array.from({ length: 5000 }, () => emit.none()), op(0x65), op(0x72, [3, 0, 0, 0]), op(0x30)];
      const copy = [emit.global('builtins', 'list'), op(0x6a, [3, 0, 0, 0]), op(0x85), emit.reduce(), op(0x30)];
      return [...big, ...Array.from({ length: Math.min(n, 20000) }, () => copy).flat(), emit.none()];
    }
    case 6: return [op(0x49, [], utf8(`${'9'.repeat(pick(rng, [10, 5000, 100_000]))}\n`))]; // long text integer
    case 7: { // huge LONG4
      const len = pick(rng, [100, 5000, 200_000]);
      const pre = new Uint8Array(4);
      putInt(pre, 0, 4, BigInt(len));
      return [op(0x8b, pre, new Uint8Array(len).fill(0x7f))];
    }
    case 8: return [emit.global(...pick(rng, EVIL_GLOBALS)), emit.mark(), emit.str('touch /tmp/vizoo_fuzz_pwned'), emit.tuple(), emit.reduce()];
    case 9: return [emit.global(...pick(rng, SAFE_GLOBALS)), emit.mark(), ...Array.from({ length: rng.int(4) }, () => randomValue(rng)).flat(), emit.tuple(), emit.reduce()];
    default: return [op(0x5d), emit.mark(), ...Array.from({ length: 1 + rng.int(5) }, () => randomValue(rng)).flat(), op(0x65)];
  }
}

/** A small random value: a number, a string, an empty container, a tuple of numbers, a global. */
function randomValue(rng: Rng): Op[] {
  switch (rng.int(6)) {
    case 0: return [numberOp(rng)];
    case 1: return [emit.str(pick(rng, INTERESTING_KEYS))];
    case 2: return [op(pick(rng, [0x29, 0x5d, 0x7d, 0x8f]))];
    case 3: return intTuple(Array.from({ length: rng.int(5) }, () => pick(rng, [0, 1, 2, 4, 2 ** 28, 2 ** 31, 2 ** 40])));
    case 4: return [emit.global(...pick(rng, SAFE_GLOBALS))];
    default: return [emit.none()];
  }
}

const LENGTH_ARGS = new Set<Arg>(['len1', 'len4s', 'len4', 'len8']);
const INT_ARGS = new Set<Arg>(['u1', 'u2', 'i4', 'u4', 'u8']);

/** One opcode-level change (several kinds, chosen at random); returns a new list. */
export function mutateOps(ops: Op[], rng: Rng): Op[] {
  let out = [...ops];
  // Inserts with concat: a spread of a 300k-opcode gadget into splice() would overflow the call stack.
  const insert = (at: number, items: Op[], remove = 0) => (out = out.slice(0, at).concat(items, out.slice(at + remove)));
  const body = Math.max(out.length - 1, 1); // keep STOP last most of the time
  const i = rng.int(body);
  const withArg = (set: Set<Arg>) => out.map((o, k) => [o, k] as const).filter(([o]) => set.has(ARGS[o.op]!));
  switch (rng.int(12)) {
    case 0: case 1: { // lie about a length
      const c = withArg(LENGTH_ARGS);
      if (!c.length) break;
      const [o, k] = pick(rng, c);
      const pre = o.pre.slice();
      putInt(pre, 0, pre.byteLength, rng.uniform() < 0.5 ? interestingInt(rng, pre.byteLength) : BigInt(o.data.byteLength + rng.int(9) - 4));
      out[k] = { ...o, pre };
      break;
    }
    case 2: case 3: { // change an integer argument (memo indices, small ints, offsets, sizes)
      const c = withArg(INT_ARGS);
      if (!c.length) break;
      const [o, k] = pick(rng, c);
      const pre = o.pre.slice();
      putInt(pre, 0, pre.byteLength, interestingInt(rng, pre.byteLength));
      out[k] = { ...o, pre };
      break;
    }
    case 4: out.splice(i, 1); break;
    case 5: out.splice(i, 0, out[i]!); break;
    case 6: { const j = rng.int(body); [out[i], out[j]] = [out[j]!, out[i]!]; break; }
    case 7: insert(i, [...gadget(rng), ...(rng.uniform() < 0.5 ? [op(0x30)] : [])]); break;
    case 8: { // replace a number or string by another kind of value
      const c = out.map((o, k) => [o, k] as const).filter(([o]) => [0x4a, 0x4b, 0x4d, 0x8a, 0x58, 0x8c, 0x47].includes(o.op));
      if (!c.length) break;
      const [, k] = pick(rng, c);
      insert(k, randomValue(rng), 1);
      break;
    }
    case 9: { // change a string
      const c = out.map((o, k) => [o, k] as const).filter(([o]) => o.op === 0x58 || o.op === 0x8c);
      if (!c.length) break;
      const [, k] = pick(rng, c);
      out[k] = emit.str(pick(rng, INTERESTING_KEYS));
      break;
    }
    case 10: { // a GLOBAL to another name
      const c = out.map((o, k) => [o, k] as const).filter(([o]) => o.op === 0x63);
      if (!c.length) break;
      const [, k] = pick(rng, c);
      out[k] = emit.global(...pick(rng, rng.uniform() < 0.3 ? EVIL_GLOBALS : SAFE_GLOBALS));
      break;
    }
    default: insert(i, [op(pick(rng, Object.keys(ARGS).map(Number).filter((c) => ARGS[c] === 'none')))]); break;
  }
  return out;
}
