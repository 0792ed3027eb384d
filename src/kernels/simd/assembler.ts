/**
 * A small WebAssembly binary writer for the SIMD kernels: one module that imports a memory (tfjs-wasm's
 * heap, so kernels read and write tensors in place) and exports functions whose parameters and locals are
 * i32 or v128. Only the instructions the kernels use are here; opcodes follow the core and SIMD specs
 * (https://webassembly.github.io/spec/core/binary/instructions.html). Pure code: runs in Node and browsers.
 */

const I32 = 0x7f;
const F32 = 0x7d;
const V128 = 0x7b;
const TYPE_CODE = { i32: I32, f32: F32, v128: V128 } as const;
type ValueType = keyof typeof TYPE_CODE;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    const done = (n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0);
    out.push(done ? byte : byte | 0x80);
    if (done) return out;
  }
}

const utf8 = (s: string) => [...new TextEncoder().encode(s)];
const vec = (items: number[][]) => [...uleb(items.length), ...items.flat()];
const section = (id: number, body: number[]) => [id, ...uleb(body.length), ...body];

/** A local (or parameter) of a function being written; its index in the function's local space. */
export type Local = { readonly index: number; readonly type: ValueType };

/** Builds one function's body; each method appends an instruction (stack machine order). */
export class FunctionWriter {
  readonly params: Local[] = [];
  private readonly locals: Local[] = [];
  private readonly code: number[] = [];

  /**
   * `fma`: write multiply-adds as relaxed SIMD's f32x4.relaxed_madd (one fused instruction where the CPU has
   * FMA) instead of a multiply and an add; only for engines that validate it (`relaxedSimdSupported`).
   */
  constructor(
    readonly name: string,
    paramCount: number,
    readonly opts: { fma?: boolean } = {},
  ) {
    for (let i = 0; i < paramCount; i++) this.params.push({ index: i, type: 'i32' });
  }

  local(type: ValueType): Local {
    const l = { index: this.params.length + this.locals.length, type };
    this.locals.push(l);
    return l;
  }

  private op(...bytes: number[]): this {
    this.code.push(...bytes);
    return this;
  }

  private simd(opcode: number, ...imm: number[]): this {
    return this.op(0xfd, ...uleb(opcode), ...imm);
  }

  get(l: Local): this {
    return this.op(0x20, ...uleb(l.index));
  }
  set(l: Local): this {
    return this.op(0x21, ...uleb(l.index));
  }
  tee(l: Local): this {
    return this.op(0x22, ...uleb(l.index));
  }
  i32(n: number): this {
    return this.op(0x41, ...sleb(n | 0));
  }
  add(): this {
    return this.op(0x6a);
  }
  sub(): this {
    return this.op(0x6b);
  }
  mul(): this {
    return this.op(0x6c);
  }
  /** Signed division (truncates toward zero). */
  div(): this {
    return this.op(0x6d);
  }
  and32(): this {
    return this.op(0x71);
  }
  geS(): this {
    return this.op(0x4e);
  }
  ltS(): this {
    return this.op(0x48);
  }
  eqz(): this {
    return this.op(0x45);
  }
  /** Pops c, b, a: a when c != 0 else b (both i32). */
  select(): this {
    return this.op(0x1b);
  }

  /** local = local + n */
  inc(l: Local, n: number | Local): this {
    this.get(l);
    if (typeof n === 'number') this.i32(n);
    else this.get(n);
    return this.add().set(l);
  }

  /** A v128 load or store at the address on the stack plus a constant byte offset (alignment hint 16). */
  load(offset = 0): this {
    return this.simd(0x00, 4, ...uleb(offset));
  }
  store(offset = 0): this {
    return this.simd(0x0b, 4, ...uleb(offset));
  }
  /** One float32 at the address on the stack (plus offset) into every lane. */
  loadSplat(offset = 0): this {
    return this.simd(0x09, 2, ...uleb(offset));
  }
  /** Stores lane 0 of the v128 on the stack as one float32 at the address below it (plus offset). */
  storeLane0(offset = 0): this {
    return this.lane(0).storeF32(offset);
  }
  /** Copies one 32-bit word: address of the destination, then of the source, on the stack. */
  copy32(): this {
    return this.op(0x28, 2, 0).op(0x36, 2, 0);
  }
  /** i32 load (address on the stack, plus offset). */
  loadI32(offset = 0): this {
    return this.op(0x28, 2, ...uleb(offset));
  }
  shl(): this {
    return this.op(0x74);
  }
  /** Scalar float32: load, store (address then value on the stack), arithmetic, lane extraction, splat. */
  loadF32(offset = 0): this {
    return this.op(0x2a, 2, ...uleb(offset));
  }
  storeF32(offset = 0): this {
    return this.op(0x38, 2, ...uleb(offset));
  }
  f32(x: number): this {
    return this.op(0x43, ...new Uint8Array(new Float32Array([x]).buffer));
  }
  addF32(): this {
    return this.op(0x92);
  }
  subF32(): this {
    return this.op(0x93);
  }
  mulF32(): this {
    return this.op(0x94);
  }
  divF32(): this {
    return this.op(0x95);
  }
  maxF32(): this {
    return this.op(0x97);
  }
  /** The i32 on the stack's bits as a float32. */
  reinterpretF32(): this {
    return this.op(0xbe);
  }
  lane(i: number): this {
    return this.simd(0x1f, i);
  }
  splatF32(): this {
    return this.simd(0x13);
  }
  /** f32x4 round to nearest even; i32x4 from f32x4 (truncating, saturating); i32x4 add; i32x4 shift left by an i32. */
  fnearest(): this {
    return this.simd(0x6a);
  }
  truncToI32x4(): this {
    return this.simd(0xf8);
  }
  iadd(): this {
    return this.simd(0xae);
  }
  ishl(): this {
    return this.simd(0xab);
  }
  /** i32x4 with every lane `n`. */
  splatI32x4(n: number): this {
    const b = new Uint8Array(new Int32Array([n, n, n, n]).buffer);
    return this.simd(0x0c, ...b);
  }
  /** f32x4 with every lane `x`. */
  splat(x: number): this {
    const b = new Uint8Array(new Float32Array([x, x, x, x]).buffer);
    return this.simd(0x0c, ...b);
  }
  fadd(): this {
    return this.simd(0xe4);
  }
  fsub(): this {
    return this.simd(0xe5);
  }
  fmul(): this {
    return this.simd(0xe6);
  }
  /** Pushes a * b + c (f32x4; each callback pushes its operand): one relaxed_madd with `fma`, else a multiply and an add. */
  fma(a: () => void, b: () => void, c: () => void): this {
    a();
    b();
    if (this.opts.fma) {
      c();
      return this.simd(0x105);
    }
    this.fmul();
    c();
    return this.fadd();
  }
  /** acc = a * b + acc (f32x4). */
  mulAdd(acc: Local, a: () => void, b: () => void): this {
    return this.fma(a, b, () => this.get(acc)).set(acc);
  }
  fdiv(): this {
    return this.simd(0xe7);
  }
  /** Lane-wise b < a ? b : a (pmin/pmax: the plain compare-and-select, no NaN propagation rules). */
  fmin(): this {
    return this.simd(0xea);
  }
  fmax(): this {
    return this.simd(0xeb);
  }
  fabs(): this {
    return this.simd(0xe0);
  }
  /** Lane-wise a >= b as an all-ones / all-zeros mask. */
  fge(): this {
    return this.simd(0x46);
  }
  /** Pops mask, b, a: a's bits where the mask is set, b's elsewhere. */
  bitselect(): this {
    return this.simd(0x52);
  }
  and(): this {
    return this.simd(0x4e);
  }
  or(): this {
    return this.simd(0x50);
  }

  /** `if (cond on stack) { then() }`. */
  if(then: () => void): this {
    this.op(0x04, 0x40);
    then();
    return this.op(0x0b);
  }

  /** `if (cond on stack) { then() } else { otherwise() }`. */
  ifElse(then: () => void, otherwise: () => void): this {
    this.op(0x04, 0x40);
    then();
    this.op(0x05);
    otherwise();
    return this.op(0x0b);
  }

  /** for (i = from; i < to; i += step) body(): `from`, `to` are locals or constants, evaluated once / per test. */
  for(i: Local, from: number | Local, to: number | Local, step: number, body: () => void): this {
    const push = (v: number | Local) => (typeof v === 'number' ? this.i32(v) : this.get(v));
    push(from).set(i);
    this.op(0x02, 0x40, 0x03, 0x40); // block, loop
    this.get(i);
    push(to);
    this.geS().op(0x0d, 1); // br_if out of the block
    body();
    this.inc(i, step);
    return this.op(0x0c, 0, 0x0b, 0x0b); // br to the loop, end loop, end block
  }

  /** The function's code entry: locals grouped per run of one type, the body, end. */
  encode(): number[] {
    const groups: number[][] = [];
    for (const l of this.locals) {
      const t = TYPE_CODE[l.type];
      const last = groups[groups.length - 1];
      if (last && last[1] === t) last[0]!++;
      else groups.push([1, t]);
    }
    const body = [...uleb(groups.length), ...groups.flatMap(([n, t]) => [...uleb(n!), t!]), ...this.code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

/**
 * A module importing `env.memory` (shared when the heap is, as in tfjs's threaded build; its maximum then
 * must be given and covers any heap) and exporting every function by name; all return nothing.
 */
export function assembleModule(functions: FunctionWriter[], shared: boolean): Uint8Array<ArrayBuffer> {
  const types = functions.map((f) => [0x60, ...vec(f.params.map(() => [I32])), 0]);
  const memType = shared ? [0x03, ...uleb(1), ...uleb(65536)] : [0x00, ...uleb(1)];
  const name = (s: string) => vec([utf8(s)].flat().map((b) => [b]));
  const imports = vec([[...name('env'), ...name('memory'), 0x02, ...memType]]);
  const bytes = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, vec(types)),
    ...section(2, imports),
    ...section(3, vec(functions.map((_, i) => uleb(i)))),
    ...section(7, vec(functions.map((f, i) => [...name(f.name), 0x00, ...uleb(i)]))),
    ...section(10, vec(functions.map((f) => f.encode()))),
  ];
  return new Uint8Array(bytes);
}

let relaxed: boolean | undefined;

/**
 * Whether this engine accepts relaxed SIMD (browsers since 2023, Node 22; Node 20 with
 * --experimental-wasm-relaxed-simd): a one-function module using f32x4.relaxed_madd must validate.
 */
export function relaxedSimdSupported(): boolean {
  if (relaxed === undefined) {
    const probe = new FunctionWriter('probe', 0, { fma: true });
    const v = probe.local('v128');
    probe.mulAdd(v, () => probe.get(v), () => probe.get(v));
    relaxed = typeof WebAssembly !== 'undefined' && WebAssembly.validate(assembleModule([probe], false));
  }
  return relaxed;
}
