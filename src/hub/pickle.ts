/**
 * A whitelist unpickler (pickle protocols 0-5, the opcodes `torch.save` and plain containers use). It runs
 * nothing: every GLOBAL / STACK_GLOBAL / INST is looked up in a table of the callables a checkpoint needs
 * (tensor rebuild functions, storage types, OrderedDict, a few inert metadata classes), each implemented
 * here in TypeScript. Any other global, e.g. `posix.system`, is refused with an error naming it before
 * anything after it is read.
 */
import { FileError } from '../util/errors.js';

export class UnsafePickleError extends Error {
  constructor(
    readonly file: string,
    readonly global: string,
  ) {
    super(
      `${file}: refusing to load: the pickle references the global '${global}', which is not on vizoo's whitelist of ` +
        `what a state dict needs (tensors, storages, OrderedDict, plain containers and numbers); nothing was executed`,
    );
    this.name = 'UnsafePickleError';
  }
}

export class PickleFormatError extends FileError {}

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

export interface UnpickleOptions {
  /** Resolves 'module.name' to a whitelisted global, or undefined to refuse it. */
  resolveGlobal: (module: string, name: string) => SafeGlobal | undefined;
  /** Persistent ids (torch storages). */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /** BUILD on objects the unpickler does not own (e.g. tensors); default: ignore the state. */
  build?: (obj: PickleValue, state: PickleValue) => PickleValue;
  file?: string;
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
  const need = (n: number) => {
    if (pos + n > bytes.byteLength) fail(`pickle data ends at byte ${bytes.byteLength} in the middle of an opcode (truncated file?)`);
  };
  const u8 = () => (need(1), bytes[pos++]!);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} is too large`);
    return Number(v);
  };
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text line in pickle (truncated file?)');
    const s = new TextDecoder('latin1').decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const utf8 = new TextDecoder('utf-8');
  const latin1 = new TextDecoder('latin1');

  const stack: PickleValue[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  const pop = () => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1]!)) fail('pickle stack underflow');
    return stack.pop();
  };
  const top = () => {
    if (!stack.length) fail('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = () => {
    const m = marks.pop();
    if (m === undefined) fail('pickle MARK missing');
    return stack.splice(m);
  };
  const global = (module: string, name: string): SafeGlobal => {
    const g = opts.resolveGlobal(module, name);
    if (!g) throw new UnsafePickleError(file, `${module}.${name}`);
    return g;
  };
  const call = (fn: PickleValue, args: PickleValue): PickleValue => {
    if (!(fn && typeof fn === 'object' && 'module' in fn && 'name' in fn)) fail('REDUCE on something that is not a whitelisted callable');
    const g = fn as SafeGlobal;
    if (!g.call) throw new UnsafePickleError(file, `${g.module}.${g.name}`);
    if (!Array.isArray(args)) fail(`arguments of ${g.module}.${g.name} are not a tuple`);
    return g.call(args as PickleValue[]);
  };
  const setItems = (target: PickleValue, items: PickleValue[]) => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) (target as Map<PickleValue, PickleValue>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: PickleValue, items: PickleValue[]) => {
    if (Array.isArray(target)) target.push(...items);
    else if (target instanceof Set) for (const x of items) target.add(x);
    else fail('APPEND(S) on something that is not a list');
  };
  const longFromBytes = (b: Uint8Array): number | bigint => {
    if (b.byteLength === 0) return 0;
    let v = 0n;
    for (let i = b.byteLength - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[b.byteLength - 1]! & 0x80) v -= 1n << BigInt(8 * b.byteLength);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const parseIntText = (s: string): number | bigint | boolean => {
    if (s === '01') return true;
    if (s === '00') return false;
    const v = BigInt(s.replace(/L$/, ''));
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME
      case 0x28: marks.push(stack.length); break; // MARK
      case 0x2e: { // STOP
        if (stack.length !== 1) fail(`pickle STOP with ${stack.length} values on the stack`);
        return { value: stack[0], end: pos };
      }
      case 0x30: pop(); break; // POP
      case 0x31: popMark(); break; // POP_MARK
      case 0x32: stack.push(top()); break; // DUP
      case 0x46: stack.push(Number(line())); break; // FLOAT
      case 0x49: stack.push(parseIntText(line())); break; // INT
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4c: stack.push(parseIntText(line())); break; // LONG
      case 0x8a: stack.push(longFromBytes(take(u8()))); break; // LONG1
      case 0x8b: { // LONG4
        const n = i32();
        if (n < 0) fail('negative LONG4 length');
        stack.push(longFromBytes(take(n)));
        break;
      }
      case 0x47: need(8); stack.push(view.getFloat64(pos, false)); pos += 8; break; // BINFLOAT
      case 0x53: { // STRING
        const s = line().trim();
        stack.push(s.slice(1, -1));
        break;
      }
      case 0x54: stack.push(latin1.decode(take(i32()))); break; // BINSTRING
      case 0x55: stack.push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x56: stack.push(line()); break; // UNICODE (raw-unicode-escape; ASCII in practice)
      case 0x58: stack.push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x42: stack.push(take(u32()).slice()); break; // BINBYTES
      case 0x43: stack.push(take(u8()).slice()); break; // SHORT_BINBYTES
      case 0x8e: stack.push(take(u64()).slice()); break; // BINBYTES8
      case 0x96: stack.push(take(u64()).slice()); break; // BYTEARRAY8
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x29: stack.push([]); break; // EMPTY_TUPLE
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push([a, b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push([a, b, c]); break; } // TUPLE3
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const x = pop(); appendItems(top(), [x]); break; } // APPEND
      case 0x65: { const items = popMark(); appendItems(top(), items); break; } // APPENDS
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x64: { const items = popMark(); const d = new Map(); setItems(d, items); stack.push(d); break; } // DICT
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x8f: stack.push(new Set()); break; // EMPTY_SET
      case 0x90: { const items = popMark(); appendItems(top(), items); break; } // ADDITEMS
      case 0x91: stack.push(new Set(popMark())); break; // FROZENSET
      case 0x70: memo.set(Number(line()), top()); break; // PUT
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x67: case 0x68: case 0x6a: { // GET, BINGET, LONG_BINGET
        const k = op === 0x67 ? Number(line()) : op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`pickle memo has no entry ${k}`);
        stack.push(memo.get(k));
        break;
      }
      case 0x63: { const module = line(); const name = line(); stack.push(global(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(global(module as string, name as string));
        break;
      }
      case 0x69: { // INST
        const module = line();
        const name = line();
        const g = global(module, name);
        stack.push(call(g, popMark()));
        break;
      }
      case 0x6f: { // OBJ
        const items = popMark();
        stack.push(call(items[0], items.slice(1)));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); stack.push(call(fn, args)); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(call(cls, args)); break; } // NEWOBJ
      case 0x92: { pop(); const args = pop(); const cls = pop(); stack.push(call(cls, args)); break; } // NEWOBJ_EX (kwargs ignored)
      case 0x62: { // BUILD
        const state = pop();
        const obj = pop();
        if (obj instanceof PickleObject) {
          obj.state = state;
          stack.push(obj);
        } else if (obj instanceof Map) {
          stack.push(obj); // an OrderedDict's instance attributes (state_dict()._metadata): not items
        } else {
          stack.push(opts.build ? opts.build(obj, state) : obj);
        }
        break;
      }
      case 0x50: { // PERSID
        if (!opts.persistentLoad) fail('pickle uses persistent ids but none are expected');
        stack.push(opts.persistentLoad!(line()));
        break;
      }
      case 0x51: { // BINPERSID
        if (!opts.persistentLoad) fail('pickle uses persistent ids but none are expected');
        stack.push(opts.persistentLoad!(pop()));
        break;
      }
      case 0x82: case 0x83: case 0x84: // EXT1/2/4: the copyreg extension registry names globals indirectly
        throw new UnsafePickleError(file, `copyreg extension code ${op === 0x82 ? u8() : op === 0x83 ? u16() : i32()}`);
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${pos - 1}`);
    }
  }
}
