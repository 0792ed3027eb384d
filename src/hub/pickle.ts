/**
 * A whitelist unpickler (pickle protocols 0-5, the opcodes `torch.save` and plain containers use). It runs
 * nothing: every GLOBAL / STACK_GLOBAL / INST is looked up in a table of the callables a checkpoint needs
 * (tensor rebuild functions, storage types, OrderedDict, a few inert metadata classes), each implemented
 * here in TypeScript. Any other global, e.g. `posix.system`, is refused with an error naming it before
 * anything after it is read.
 *
 * It treats the bytes as hostile: every length is checked against the bytes left before anything is read
 * or allocated, so each opcode moves strictly forward; the stack, the memo, MARK nesting and integer sizes
 * are capped, and the work whitelisted callables do on their arguments is charged against a budget
 * proportional to the pickle's size (a small pickle cannot copy one big list a million times). The values
 * it returns may be cyclic or deeply nested (memo references, APPEND into oneself): consumers walk them
 * iteratively and describe them with src/util/summary.ts, never recursively.
 */
import { WeightsFormatError } from '../util/errors.js';
import { quote, summarize } from '../util/summary.js';

export class UnsafePickleError extends WeightsFormatError {
  constructor(
    file: string,
    readonly global: string,
  ) {
    super(
      file,
      `refusing to load: the pickle references the global ${quote(global)}, which is not on vizoo's whitelist of ` +
        `what a state dict needs (tensors, storages, OrderedDict, plain containers and numbers); nothing was executed`,
    );
  }
}

export class PickleFormatError extends WeightsFormatError {}

/** A tuple (kept distinct from lists only where it matters: never, for state dicts). */
export type PickleValue = unknown;

/** A whitelisted global: `call` implements calling it (REDUCE / NEWOBJ); absent for plain markers. */
export interface SafeGlobal {
  readonly module: string;
  readonly name: string;
  call?: (args: PickleValue[]) => PickleValue;
}

/** An instance of an inert class (argparse.Namespace, ...): its constructor args and BUILD state, nothing run. */
export class PickleObject {
  state: PickleValue = undefined;
  constructor(
    readonly cls: string,
    readonly args: PickleValue[],
  ) {}
}

/**
 * What a whitelisted callable throws when its arguments are not what it takes; the unpickler turns it
 * into a PickleFormatError naming the file.
 */
export class PickleArgumentError extends Error {}

export interface UnpickleOptions {
  /** Resolves 'module.name' to a whitelisted global, or undefined to refuse it. */
  resolveGlobal: (module: string, name: string) => SafeGlobal | undefined;
  /** Persistent ids (torch storages). */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /** BUILD on objects the unpickler does not own (e.g. tensors); default: ignore the state. */
  build?: (obj: PickleValue, state: PickleValue) => PickleValue;
  file?: string;
}

/** Caps no real checkpoint comes near; past them a pickle is refused as malformed or hostile. */
export const PICKLE_LIMITS = {
  /** Values on the stack at once. */
  stack: 1 << 22,
  /** Memo entries. */
  memo: 1 << 22,
  /** Open MARKs (nesting of tuples, lists and dicts being built). */
  marks: 1000,
  /** Bytes of one LONG1 / LONG4 integer, and digits of a text INT / LONG (Python's own default limit). */
  longBytes: 1024,
  intDigits: 4300,
  /** Container items whitelisted callables may visit, per pickle byte (plus a fixed allowance). */
  workPerByte: 16,
  workBase: 1 << 20,
};

const INT_TEXT = /^[+-]?\d+L?$/;
const FLOAT_TEXT = /^\s*[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf|infinity|nan)\s*$/i;

/** How many container items a callable may visit when given `args`: two levels deep, counted without walking further. */
function argumentWork(args: PickleValue[]): number {
  let n = args.length;
  for (const a of args) {
    if (Array.isArray(a)) {
      n += a.length;
      for (const x of a) n += Array.isArray(x) ? x.length : x instanceof Map || x instanceof Set ? x.size : typeof x === 'string' ? x.length : 0;
    } else if (a instanceof Map || a instanceof Set) n += a.size;
    else if (typeof a === 'string' || a instanceof Uint8Array) n += a.length;
  }
  return n;
}

/**
 * Unpickles one pickle starting at `pos`; returns the value and the position after STOP (the legacy torch
 * format stores several pickles back to back).
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions, pos = 0): { value: PickleValue; end: number } {
  const file = opts.file ?? '<pickle>';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fail: (p: string) => never = (p) => {
    throw new PickleFormatError(file, p);
  };
  let opAt = pos;
  /** Checks that `n` bytes follow; `n` comes from the file, so anything but a small non-negative integer is refused. */
  const need = (n: number) => {
    if (!(Number.isSafeInteger(n) && n >= 0)) fail(`opcode at byte ${opAt} has an invalid length ${n}`);
    if (n > bytes.byteLength - pos) fail(`pickle data ends at byte ${bytes.byteLength} in the middle of the opcode at byte ${opAt} (truncated file?)`);
  };
  const u8 = () => (need(1), bytes[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(bytes.byteLength)) fail(`opcode at byte ${opAt} has a length of ${v} bytes, more than the ${bytes.byteLength}-byte pickle holds`);
    return Number(v);
  };
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail(`unterminated text line in the opcode at byte ${opAt} (truncated file?)`);
    const s = latin1.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const utf8 = new TextDecoder('utf-8');
  const latin1 = new TextDecoder('latin1');

  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let work = 0;
  const workBudget = PICKLE_LIMITS.workBase + PICKLE_LIMITS.workPerByte * bytes.byteLength;
  const push = (v: PickleValue) => {
    if (stack.length >= PICKLE_LIMITS.stack) fail(`pickle stack grows past ${PICKLE_LIMITS.stack} values`);
    stack.push(v);
  };
  const pop = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]!)) fail(`pickle stack underflow at byte ${opAt}`);
    return stack.pop();
  };
  const top = () => {
    if (!stack.length || (marks.length && stack.length <= marks[marks.length - 1]!)) fail(`pickle stack underflow at byte ${opAt}`);
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) fail(`pickle MARK missing for the opcode at byte ${opAt}`);
    return stack.splice(m);
  };
  const memoize = (k: number) => {
    if (!Number.isSafeInteger(k) || k < 0) fail(`pickle memo index ${summarize(k)} at byte ${opAt} is not a non-negative integer`);
    if (memo.size >= PICKLE_LIMITS.memo && !memo.has(k)) fail(`pickle memo grows past ${PICKLE_LIMITS.memo} entries`);
    memo.set(k, top());
  };
  const global = (module: string, name: string): SafeGlobal => {
    const g = opts.resolveGlobal(module, name);
    if (!g) throw new UnsafePickleError(file, `${module}.${name}`);
    return g;
  };
  const call = (fn: PickleValue, args: PickleValue): PickleValue => {
    if (!(fn && typeof fn === 'object' && 'module' in fn && 'name' in fn)) fail(`opcode at byte ${opAt} calls ${summarize(fn)}, which is not a whitelisted callable`);
    const g = fn as SafeGlobal;
    if (!g.call) throw new UnsafePickleError(file, `${g.module}.${g.name}`);
    if (!Array.isArray(args)) fail(`arguments of ${g.module}.${g.name} are ${summarize(args)}, not a tuple`);
    work += argumentWork(args as PickleValue[]);
    if (work > workBudget) fail(`pickle makes its callables visit more than ${workBudget} items, far more than its size needs (a copy bomb?)`);
    try {
      return g.call(args as PickleValue[]);
    } catch (e) {
      if (e instanceof PickleArgumentError) fail(`${g.module}.${g.name} at byte ${opAt}: ${e.message}`);
      throw e;
    }
  };
  const setItems = (target: PickleValue, items: PickleValue[]) => {
    if (items.length % 2) fail(`SETITEMS at byte ${opAt} has an odd number of items`);
    if (!(target instanceof Map)) fail(`SETITEM(S) at byte ${opAt} on ${summarize(target)}, which is not a dict`);
    for (let i = 0; i + 1 < items.length; i += 2) (target as Map<PickleValue, PickleValue>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: PickleValue, items: PickleValue[]) => {
    if (Array.isArray(target)) for (const x of items) target.push(x);
    else if (target instanceof Set) for (const x of items) target.add(x);
    else fail(`APPEND(S) at byte ${opAt} on ${summarize(target)}, which is not a list`);
  };
  const longFromBytes = (b: Uint8Array): number | bigint => {
    if (b.byteLength === 0) return 0;
    if (b.byteLength > PICKLE_LIMITS.longBytes) fail(`integer of ${b.byteLength} bytes at byte ${opAt} is too large`);
    let hex = '';
    for (let i = b.byteLength - 1; i >= 0; i--) hex += b[i]!.toString(16).padStart(2, '0');
    let v = BigInt(`0x${hex}`);
    if (b[b.byteLength - 1]! & 0x80) v -= 1n << BigInt(8 * b.byteLength);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const parseIntText = (s: string): number | bigint | boolean => {
    const t = s.trim();
    if (t === '01') return true;
    if (t === '00') return false;
    if (!INT_TEXT.test(t) || t.length > PICKLE_LIMITS.intDigits) fail(`text integer ${quote(t, 40)} at byte ${opAt} is malformed or too long`);
    const v = BigInt(t.replace(/L$/, ''));
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const parseFloatText = (s: string): number => {
    if (!FLOAT_TEXT.test(s)) fail(`text float ${quote(s, 40)} at byte ${opAt} is malformed`);
    const t = s.trim().toLowerCase().replace(/^\+/, '');
    if (/^-?inf(inity)?$/.test(t)) return t.startsWith('-') ? -Infinity : Infinity;
    return /nan$/.test(t) ? NaN : Number(t);
  };
  const memoIndex = (s: string): number => {
    if (!/^\d{1,15}$/.test(s)) fail(`memo index ${quote(s, 40)} at byte ${opAt} is not a non-negative integer`);
    return Number(s);
  };
  const quotedString = (s: string): string => {
    const t = s.trim();
    if (t.length < 2 || (t[0] !== "'" && t[0] !== '"') || t[t.length - 1] !== t[0]) fail(`STRING at byte ${opAt} is not quoted`);
    return t.slice(1, -1);
  };

  for (;;) {
    opAt = pos;
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME (a hint: the frame's opcodes follow inline)
      case 0x28: // MARK
        if (marks.length >= PICKLE_LIMITS.marks) fail(`pickle nests MARKs more than ${PICKLE_LIMITS.marks} deep`);
        marks.push(stack.length);
        break;
      case 0x2e: { // STOP
        if (stack.length !== 1 || marks.length) fail(`pickle STOP with ${stack.length} values on the stack${marks.length ? ` and ${marks.length} open MARKs` : ''}`);
        return { value: stack[0], end: pos };
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: push(top()); break; // DUP
      case 0x46: push(parseFloatText(line())); break; // FLOAT
      case 0x49: push(parseIntText(line())); break; // INT
      case 0x4a: push(i32()); break; // BININT
      case 0x4b: push(u8()); break; // BININT1
      case 0x4d: push(u16()); break; // BININT2
      case 0x4c: push(parseIntText(line())); break; // LONG
      case 0x8a: push(longFromBytes(take(u8()))); break; // LONG1
      case 0x8b: push(longFromBytes(take(i32()))); break; // LONG4
      case 0x47: need(8); push(view.getFloat64(pos, false)); pos += 8; break; // BINFLOAT
      case 0x53: push(quotedString(line())); break; // STRING
      case 0x54: push(latin1.decode(take(i32()))); break; // BINSTRING
      case 0x55: push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x56: push(line()); break; // UNICODE (raw-unicode-escape; ASCII in practice)
      case 0x58: push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x42: push(take(u32()).slice()); break; // BINBYTES
      case 0x43: push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x4e: push(null); break; // NONE
      case 0x88: push(true); break; // NEWTRUE
      case 0x89: push(false); break; // NEWFALSE
      case 0x29: push([]); break; // EMPTY_TUPLE
      case 0x74: push(popMark()); break; // TUPLE
      case 0x85: push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); push([a, b, c]); break; } // TUPLE3
      case 0x5d: push([]); break; // EMPTY_LIST
      case 0x6c: push(popMark()); break; // LIST
      case 0x61: { const x = pop(); appendItems(top(), [x]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x7d: push(new Map()); break; // EMPTY_DICT
      case 0x64: { const items = popMark(); const d = new Map(); setItems(d, items); push(d); break; } // DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x8f: push(new Set()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); appendItems(top(), items); break; } // ADDITEMS
      case 0x91: push(new Set(popMark())); break; // FROZENSET
      case 0x70: memoize(memoIndex(line())); break; // PUT
      case 0x71: memoize(u8()); break; // BINPUT
      case 0x72: memoize(u32()); break; // LONG_BINPUT
      case 0x94: memoize(memo.size); break; // MEMOIZE
      case 0x67: case 0x68: case 0x6a: { // GET, BINGET, LONG_BINGET
        const k = op === 0x67 ? memoIndex(line()) : op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`pickle memo has no entry ${k} (opcode at byte ${opAt})`);
        push(memo.get(k));
        break;
      }
      case 0x63: { const module = line(); const name = line(); push(global(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail(`STACK_GLOBAL at byte ${opAt} needs two strings, got ${summarize(module)} and ${summarize(name)}`);
        push(global(module as string, name as string));
        break;
      }
      case 0x69: { // INST
        const module = line();
        const name = line();
        const g = global(module, name);
        push(call(g, popMark()));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        if (!items.length) fail(`OBJ at byte ${opAt} without a class`);
        push(call(items[0], items.slice(1)));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); push(call(fn, args)); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); push(call(cls, args)); break; } // NEWOBJ
      case 0x92: { pop(); const args = pop(); const cls = pop(); push(call(cls, args)); break; } // NEWOBJ_EX (kwargs ignored)
      case 0x62: { // BUILD
        const state = pop();
        const obj = pop();
        if (obj instanceof PickleObject) {
          obj.state = state;
          push(obj);
        } else if (obj instanceof Map) {
          push(obj); // an OrderedDict's instance attributes (state_dict()._metadata): not items
        } else {
          push(opts.build ? opts.build(obj, state) : obj);
        }
        break;
      }
      case 0x50: { // PERSID
        if (!opts.persistentLoad) fail('pickle uses persistent ids but none are expected');
        push(opts.persistentLoad!(line()));
        break;
      }
      case 0x51: { // BINPERSID
        if (!opts.persistentLoad) fail('pickle uses persistent ids but none are expected');
        push(opts.persistentLoad!(pop()));
        break;
      }
      case 0x82: case 0x83: case 0x84: // EXT1/2/4: the copyreg extension registry names globals indirectly
        throw new UnsafePickleError(file, `copyreg extension code ${op === 0x82 ? u8() : op === 0x83 ? u16() : i32()}`);
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${opAt}`);
    }
  }
}
