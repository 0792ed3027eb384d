/**
 * PyTorch checkpoints (.pth / .pt / .bin / .ckpt / .tar) without Python: the zip format of torch >= 1.6
 * (`<root>/data.pkl` + `<root>/data/<key>` storages, ZIP64 included) and the legacy format (magic number,
 * protocol, sys info, the pickle, then the storages back to back). Pickles go through the whitelist
 * unpickler (./pickle.ts), so a checkpoint can never run code. Tensors are rebuilt from their storages with
 * any offset and strides (views of one storage), in the file's dtype (F16 / BF16 / I64 kept as stored).
 *
 * Pure: parses bytes (a ByteSource); ./weight_files.ts opens files. Every number a checkpoint gives
 * (offsets, sizes, strides, element counts) is checked to be a non-negative integer inside its storage
 * before anything is copied, and the bytes all tensors may take are capped (see MaterializeBudget).
 */
import { type DType, DTYPE_BYTES, type HostTensor, type StateDict, dataFromBytes, typedData } from './host_tensor.js';
import { PickleArgumentError, PickleFormatError, PickleObject, type PickleValue, type SafeGlobal, unpickle } from './pickle.js';
import { WeightsFormatError } from '../util/errors.js';
import { keyName, quote, summarize } from '../util/summary.js';
import { type ByteSource, ZipReader, bufferSource, looksLikeZip } from './zip.js';

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

/** Dimensions a tensor may have (PyTorch's own limit is lower). */
const MAX_RANK = 64;

/**
 * What the tensors of one checkpoint may take when copied out: twice the bytes of the storages they use
 * (a storage shared by two keys, tied weights) plus a fixed allowance for views that repeat elements
 * (stride 0, overlapping strides), so a few hundred bytes cannot ask for gigabytes.
 */
export class MaterializeBudget {
  static readonly VIEW_ALLOWANCE = 256 * 2 ** 20;
  storageBytes = 0;
  used = 0;

  get limit(): number {
    return 2 * this.storageBytes + MaterializeBudget.VIEW_ALLOWANCE;
  }
}

/** A typed storage: its bytes are read when a tensor that uses it is materialized. */
class Storage {
  private bytes: Uint8Array | null = null;
  constructor(
    readonly file: string,
    readonly dtype: DType,
    readonly key: string,
    readonly numel: number,
    readonly budget: MaterializeBudget,
    private readonly load: () => Uint8Array,
  ) {}

  data(): Uint8Array {
    if (!this.bytes) {
      const b = this.load();
      const want = this.numel * DTYPE_BYTES[this.dtype];
      if (b.byteLength < want) {
        throw new WeightsFormatError(this.file, `storage ${quote(this.key)} holds ${b.byteLength} bytes, its ${this.numel} ${this.dtype} elements need ${want}`);
      }
      this.budget.storageBytes += b.byteLength;
      this.bytes = b;
    }
    return this.bytes;
  }
}

type Words = Uint8Array | Uint16Array | Uint32Array;

/**
 * Copies a strided view into `out` at memory speed: whole rows with `set`, stride-0 rows with `fill`,
 * stride-0 blocks by doubling `copyWithin`. Sizes and strides are in words; size-1 dims already dropped.
 */
function gather(out: Words, src: Words, size: number[], stride: number[], block: number[], dim: number, base: number, pos: number): void {
  const len = size[dim]!;
  const st = stride[dim]!;
  if (dim === size.length - 1) {
    if (st === 1) (out as Uint8Array).set((src as Uint8Array).subarray(base, base + len), pos);
    else if (st === 0) out.fill(src[base]!, pos, pos + len);
    else for (let i = 0; i < len; i++) out[pos + i] = src[base + i * st]!;
    return;
  }
  const b = block[dim + 1]!;
  if (st === 0) {
    gather(out, src, size, stride, block, dim + 1, base, pos);
    const total = b * len;
    for (let done = b; done < total; ) {
      const c = Math.min(done, total - done);
      out.copyWithin(pos + done, pos, pos + c);
      done += c;
    }
    return;
  }
  for (let i = 0; i < len; i++) gather(out, src, size, stride, block, dim + 1, base + i * st, pos + i * b);
}

const WORDS: Record<number, (b: ArrayBuffer, o: number, n: number) => Words> = {
  1: (b, o, n) => new Uint8Array(b, o, n),
  2: (b, o, n) => new Uint16Array(b, o, n),
  4: (b, o, n) => new Uint32Array(b, o, n),
};

/** The `n` elements of the view (size, stride, offset in elements of `E` bytes) of `src`, contiguous. */
function copyView(src: Uint8Array, E: number, size: number[], stride: number[], offset: number, n: number): Uint8Array {
  // Work in words of up to 4 bytes: an 8-byte element is two words (a trailing dim of 2, stride 1).
  const w = Math.min(E, 4);
  const k = E / w;
  let dims = size.map((s, d) => [s, stride[d]! * k] as [number, number]).filter(([s]) => s !== 1);
  if (k > 1) dims.push([k, 1]);
  // Merge dims that are contiguous with the next one.
  const merged: [number, number][] = [];
  for (const [s, st] of dims) {
    const prev = merged[merged.length - 1];
    if (prev && prev[1] === st * s) {
      prev[0] *= s;
      prev[1] = st;
    } else merged.push([s, st]);
  }
  dims = merged.length ? merged : [[1, 1]];
  if (dims.length === 1 && dims[0]![1] === 1) return src.slice(offset * E, offset * E + n * E);
  const aligned = src.byteOffset % w === 0 ? src : src.slice();
  const srcWords = WORDS[w]!(aligned.buffer as ArrayBuffer, aligned.byteOffset, Math.floor(aligned.byteLength / w));
  const out = new Uint8Array(n * E);
  const outWords = WORDS[w]!(out.buffer, 0, n * k);
  const sz = dims.map(([s]) => s);
  const st = dims.map(([, s]) => s);
  const block = new Array<number>(sz.length + 1).fill(1);
  for (let d = sz.length - 1; d >= 0; d--) block[d] = block[d + 1]! * sz[d]!;
  gather(outWords, srcWords, sz, st, block, 0, offset * k, 0);
  return out;
}

/** What `_rebuild_tensor_v2` describes: a strided view of a storage. Offset, sizes and strides are checked integers. */
export class TensorRef {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}

  get dtype(): DType {
    return this.storage.dtype;
  }

  /** Copies the view into a contiguous host tensor, after checking it lies inside its storage and the budget. */
  materialize(name: string): HostTensor {
    const { size, stride, offset, storage } = this;
    const dtype = storage.dtype;
    const E = DTYPE_BYTES[dtype];
    const fail = (p: string): never => {
      throw new WeightsFormatError(storage.file, `tensor ${quote(name)} (size [${size}], stride [${stride}], offset ${offset}) ${p}`);
    };
    if (size.includes(0)) return { dtype, shape: [...size], data: dataFromBytes(dtype, new Uint8Array(0)) };
    let n = 1;
    let last = offset;
    for (let d = 0; d < size.length; d++) {
      n *= size[d]!;
      last += (size[d]! - 1) * stride[d]!;
    }
    if (!Number.isSafeInteger(n * E)) fail('is too large (more than 2^53 bytes)');
    if (!Number.isSafeInteger(last) || last >= storage.numel) fail(`reaches outside its storage of ${storage.numel} elements`);
    const src = storage.data();
    const budget = storage.budget;
    if (budget.used + n * E > budget.limit) {
      fail(
        `would take ${n * E} bytes, past the ${budget.limit} bytes vizoo allows this checkpoint ` +
          `(twice its storages plus ${MaterializeBudget.VIEW_ALLOWANCE >> 20} MiB for views that repeat elements)`,
      );
    }
    budget.used += n * E;
    return { dtype, shape: [...size], data: typedData(dtype, copyView(src, E, size, stride, offset, n).buffer as ArrayBuffer) };
  }
}

/** A numpy array inside a checkpoint (metadata such as best metrics); kept as raw bytes. */
class NumpyArray {
  shape: number[] = [];
  dtype = '';
  data: Uint8Array = new Uint8Array(0);
}

const badArgs = (p: string): never => {
  throw new PickleArgumentError(p);
};

/** A tuple of at most MAX_RANK non-negative integers. */
const toDims = (v: PickleValue, what: string): number[] => {
  if (!Array.isArray(v) || v.length > MAX_RANK || !v.every((x) => Number.isSafeInteger(x) && (x as number) >= 0)) {
    badArgs(`${what} ${summarize(v)} is not a tuple of at most ${MAX_RANK} non-negative integers`);
  }
  return [...(v as number[])];
};

/** The items of an iterable argument (a list, tuple or set); none when absent. */
const items = (v: PickleValue, what: string): PickleValue[] => {
  if (v === undefined) return [];
  if (Array.isArray(v)) return v;
  if (v instanceof Set) return [...v];
  return badArgs(`${what} takes a list, tuple or set, not ${summarize(v)}`);
};

function numpyScalar(dtype: PickleValue, raw: PickleValue): PickleValue {
  const code = dtype instanceof PickleObject ? dtype.args[0] : dtype;
  if (!(raw instanceof Uint8Array) || typeof code !== 'string') return null;
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const width: Record<string, number> = { f8: 8, f4: 4, i8: 8, i4: 4, u1: 1, b1: 1 };
  if (!(code in width) || raw.byteLength < width[code]!) return null;
  switch (code) {
    case 'f8': return v.getFloat64(0, true);
    case 'f4': return v.getFloat32(0, true);
    case 'i8': return Number(v.getBigInt64(0, true));
    case 'i4': return v.getInt32(0, true);
    default: return raw[0];
  }
}

/** The globals a checkpoint may name: callables implemented here, and inert markers. Everything else is refused. */
function whitelist(): Map<string, SafeGlobal> {
  const m = new Map<string, SafeGlobal>();
  const add = (full: string, call?: SafeGlobal['call']) => {
    const i = full.lastIndexOf('.');
    m.set(full, { module: full.slice(0, i), name: full.slice(i + 1), call });
  };
  const rebuild = (a: PickleValue[]) => {
    const [storage, offset, size, stride] = a;
    if (!(storage instanceof Storage)) return badArgs(`tensor rebuilt from ${summarize(storage)}, not a storage`);
    if (!Number.isSafeInteger(offset) || (offset as number) < 0) badArgs(`storage offset ${summarize(offset)} is not a non-negative integer`);
    const sz = toDims(size, 'tensor size');
    const st = toDims(stride, 'tensor stride');
    if (sz.length !== st.length) badArgs(`tensor size [${sz}] and stride [${st}] differ in length`);
    return new TensorRef(storage, offset as number, sz, st);
  };
  add('collections.OrderedDict', (a) => {
    const pairs = items(a[0], 'OrderedDict');
    if (!pairs.every((p) => Array.isArray(p) && p.length === 2)) badArgs('OrderedDict takes (key, value) pairs');
    return new Map(pairs as [PickleValue, PickleValue][]);
  });
  add('torch._utils._rebuild_tensor', rebuild);
  add('torch._utils._rebuild_tensor_v2', rebuild);
  add('torch._utils._rebuild_parameter', (a) => a[0]);
  add('torch._utils._rebuild_parameter_with_state', (a) => a[0]);
  add('torch._tensor._rebuild_from_type_v2', (a) => {
    const [fn, , args] = a;
    const g = fn as SafeGlobal;
    if (!(fn instanceof Object) || !g.call || m.get(`${g.module}.${g.name}`) !== g) badArgs('_rebuild_from_type_v2 without a whitelisted rebuild function');
    if (!Array.isArray(args)) badArgs(`_rebuild_from_type_v2 arguments are ${summarize(args)}, not a tuple`);
    if (g.module === 'torch._tensor') badArgs('_rebuild_from_type_v2 calls itself');
    return g.call!(args as PickleValue[]);
  });
  add('torch.nn.parameter.Parameter', (a) => a[0]);
  add('torch.Tensor');
  add('torch.Size', (a) => toDims(a[0] ?? [], 'torch.Size'));
  for (const s of Object.keys(STORAGE_DTYPES)) add(`torch.${s}`);
  for (const b of ['builtins', '__builtin__']) {
    add(`${b}.set`, (a) => new Set(items(a[0], 'set')));
    add(`${b}.frozenset`, (a) => new Set(items(a[0], 'frozenset')));
    add(`${b}.list`, (a) => [...items(a[0], 'list')]);
    add(`${b}.tuple`, (a) => [...items(a[0], 'tuple')]);
  }
  // Protocol 2 spells bytes as _codecs.encode(latin-1 text, 'latin1').
  add('_codecs.encode', (a) => {
    if (typeof a[0] !== 'string') badArgs(`_codecs.encode takes text, not ${summarize(a[0])}`);
    return Uint8Array.from(a[0] as string, (c) => c.charCodeAt(0) & 0xff);
  });
  // Inert metadata that training scripts store beside the weights (timm saves args and numpy metrics).
  add('argparse.Namespace', (a) => new PickleObject('argparse.Namespace', a));
  for (const np of ['numpy.core.multiarray', 'numpy._core.multiarray']) {
    add(`${np}.scalar`, (a) => numpyScalar(a[0], a[1]));
    add(`${np}._reconstruct`, () => new NumpyArray());
  }
  add('numpy.dtype', (a) => new PickleObject('numpy.dtype', a));
  add('numpy.ndarray');
  return m;
}

const WHITELIST = whitelist();

function buildState(obj: PickleValue, state: PickleValue): PickleValue {
  if (obj instanceof NumpyArray && Array.isArray(state)) {
    obj.shape = Array.isArray(state[1]) && state[1].length <= MAX_RANK && state[1].every((d) => Number.isSafeInteger(d)) ? [...(state[1] as number[])] : [];
    obj.dtype = state[2] instanceof PickleObject && typeof state[2].args[0] === 'string' ? state[2].args[0] : '';
    obj.data = state[4] instanceof Uint8Array ? state[4] : new Uint8Array(0);
  }
  return obj;
}

function unpickleTorch(bytes: Uint8Array, file: string, persistentLoad: (pid: PickleValue) => PickleValue, pos = 0) {
  return unpickle(bytes, { file, resolveGlobal: (mod, name) => WHITELIST.get(`${mod}.${name}`), persistentLoad, build: buildState }, pos);
}

/** The fields of a storage persistent id ('storage', type, key, location, numel[, view]), checked. */
function storageId(pid: PickleValue, file: string): { dtype: DType; key: string; numel: number; view: PickleValue } {
  const fail = (p: string): never => {
    throw new WeightsFormatError(file, `persistent id ${summarize(pid)} ${p}`);
  };
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) return fail("is not a ('storage', type, key, location, size) tuple");
  const [, type, key, , numel, view] = pid as PickleValue[];
  const g = type as SafeGlobal | undefined;
  const dtype = g instanceof Object && g.module === 'torch' && typeof g.name === 'string' ? STORAGE_DTYPES[g.name] : undefined;
  if (!dtype) fail(`names an unsupported storage type${g instanceof Object && typeof g.module === 'string' ? ` ${quote(`${g.module}.${g.name}`, 60)}` : ''}`);
  if (typeof key !== 'string') fail('has a storage key that is not a string');
  if (!Number.isSafeInteger(numel) || (numel as number) < 0) fail('has a storage size that is not a non-negative integer');
  return { dtype: dtype!, key: key as string, numel: numel as number, view };
}

function readZipCheckpoint(src: ByteSource, file: string, budget: MaterializeBudget): PickleValue {
  const zip = new ZipReader(src, file);
  const names = [...zip.entries.keys()];
  const pkl = names.find((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) {
    const hint = names.some((n) => n.endsWith('constants.pkl')) ? ' (a TorchScript archive: load it in PyTorch and save model.state_dict())' : '';
    throw new WeightsFormatError(file, `ZIP archive without data.pkl: not a torch.save checkpoint${hint}`);
  }
  const root = pkl.slice(0, pkl.length - 'data.pkl'.length);
  if (zip.entries.has(`${root}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${root}byteorder`)).trim();
    if (order !== 'little') throw new WeightsFormatError(file, `checkpoint was written in ${quote(order, 20)} byte order; only little-endian is supported`);
  }
  const storages = new Map<string, Storage>();
  return unpickleTorch(zip.read(pkl), file, (pid) => {
    const { dtype, key, numel } = storageId(pid, file);
    let s = storages.get(key);
    if (!s) {
      s = new Storage(file, dtype, key, numel, budget, () => zip.read(`${root}data/${key}`));
      storages.set(key, s);
    }
    return s;
  }).value;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** Where the legacy magic number's pickle ends in `head` (the first bytes of the file); an error when it is not there. */
function legacyMagicEnd(head: Uint8Array, file: string): number {
  const notTorch = (why = '', cause?: unknown) => new WeightsFormatError(file, `not a PyTorch checkpoint (neither a ZIP archive nor the legacy magic number)${why}`, { cause });
  let magic: { value: PickleValue; end: number };
  try {
    magic = unpickleTorch(head, file, () => undefined);
  } catch (e) {
    if (e instanceof PickleFormatError) throw notTorch(`: ${e.problem}`, e);
    throw e;
  }
  if ((typeof magic.value !== 'number' && typeof magic.value !== 'bigint') || BigInt(magic.value) !== LEGACY_MAGIC) throw notTorch();
  return magic.end;
}

function readLegacyCheckpoint(bytes: Uint8Array, file: string, budget: MaterializeBudget): PickleValue {
  const noPid = () => {
    throw new WeightsFormatError(file, 'unexpected persistent id in the legacy header');
  };
  const magic = { end: legacyMagicEnd(bytes, file) };
  const proto = unpickleTorch(bytes, file, noPid, magic.end);
  if (proto.value !== 1001) throw new WeightsFormatError(file, `unsupported legacy protocol version ${summarize(proto.value)}`);
  const sysInfo = unpickleTorch(bytes, file, noPid, proto.end);
  const info = sysInfo.value;
  if (info instanceof Map && info.get('little_endian') === false) throw new WeightsFormatError(file, 'big-endian legacy checkpoints are not supported');
  // Storages come after the pickle; tensors keep references and read them once the offsets are known.
  const roots = new Map<string, { dtype: DType; numel: number; bytes: Uint8Array | null }>();
  const views = new Map<string, Storage>();
  const main = unpickleTorch(bytes, file, (pid) => {
    const { dtype, key, numel, view } = storageId(pid, file);
    if (!roots.has(key)) roots.set(key, { dtype, numel, bytes: null });
    const root = roots.get(key)!;
    if (root.dtype !== dtype) throw new WeightsFormatError(file, `storage ${quote(key)} is used as both ${root.dtype} and ${dtype}`);
    const rootData = () => {
      if (!root.bytes) throw new WeightsFormatError(file, `storage ${quote(key)} was never written (truncated file?)`);
      return root.bytes;
    };
    if (view === null || view === undefined) return new Storage(file, dtype, key, root.numel, budget, rootData);
    const [viewKey, off, size] = Array.isArray(view) ? view : [];
    if (typeof viewKey !== 'string' || !Number.isSafeInteger(off) || !Number.isSafeInteger(size) || (off as number) < 0 || (size as number) < 0 || (off as number) + (size as number) > root.numel) {
      throw new WeightsFormatError(file, `storage view ${summarize(view)} of ${quote(key)} is not a (key, offset, size) inside its ${root.numel} elements`);
    }
    const E = DTYPE_BYTES[dtype];
    const [o, n] = [off as number, size as number];
    if (!views.has(viewKey)) views.set(viewKey, new Storage(file, dtype, viewKey, n, budget, () => rootData().subarray(o * E, (o + n) * E)));
    return views.get(viewKey);
  }, sysInfo.end);
  const keys = unpickleTorch(bytes, file, noPid, main.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) throw new WeightsFormatError(file, 'legacy storage key list is missing or malformed');
  let pos = keys.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const k of keys.value as string[]) {
    const r = roots.get(k);
    if (!r) throw new WeightsFormatError(file, `legacy storage ${quote(k)} is not referenced by the pickle`);
    if (pos + 8 > bytes.byteLength) throw new WeightsFormatError(file, `legacy storage ${quote(k)} is cut off at byte ${bytes.byteLength} (truncated file?)`);
    const n = view.getBigInt64(pos, true);
    pos += 8;
    const E = BigInt(DTYPE_BYTES[r.dtype]);
    if (n < BigInt(r.numel) || n * E > BigInt(bytes.byteLength - pos)) {
      throw new WeightsFormatError(file, `legacy storage ${quote(k)} claims ${n} elements at byte ${pos - 8}; the pickle needs ${r.numel} and the file has room for ${BigInt(bytes.byteLength - pos) / E} (truncated file?)`);
    }
    const len = Number(n * E);
    r.bytes = bytes.subarray(pos, pos + len);
    pos += len;
  }
  return main.value;
}

/**
 * Parses a PyTorch checkpoint from `src` and passes its object tree (Maps for dicts, TensorRef for tensors,
 * not yet copied) to `fn`; storages stay readable from `src` until `fn` returns. `file` names it in errors.
 */
export function withCheckpointObject<T>(src: ByteSource, file: string, fn: (root: PickleValue) => T): T {
  if (src.size < 4) throw new WeightsFormatError(file, `file is ${src.size} bytes: not a PyTorch checkpoint`);
  const budget = new MaterializeBudget();
  let root: PickleValue;
  if (looksLikeZip(src.read(0, 4))) root = readZipCheckpoint(src, file, budget);
  else {
    // The magic number comes first: a file that is no checkpoint is refused before it is read whole.
    legacyMagicEnd(src.read(0, Math.min(src.size, 64)), file);
    root = readLegacyCheckpoint(src.read(0, src.size), file, budget);
  }
  return fn(root);
}

/** Keys under which training scripts nest the state dict, in the order they are tried. */
export const STATE_DICT_KEYS = ['state_dict', 'model', 'module', 'model_state', 'model_state_dict', 'net', 'network', 'params', 'model_ema', 'state_dict_ema', 'ema'];

function isTensorMap(v: PickleValue): v is Map<string, PickleValue> {
  if (!(v instanceof Map) || v.size === 0) return false;
  let tensors = 0;
  for (const [k, x] of v) {
    if (typeof k !== 'string') return false;
    if (x instanceof TensorRef) tensors++;
    else if (x instanceof Map) return false;
  }
  return tensors > 0;
}

function describeKeys(v: Map<PickleValue, PickleValue>): string {
  const keys: string[] = [];
  for (const k of v.keys()) {
    if (keys.length === 12) break;
    keys.push(typeof k === 'string' ? keyName(k) : summarize(k, 40));
  }
  return v.size > 12 ? `${keys.join(', ')}, ... (${v.size - 12} more)` : keys.join(', ');
}

export interface UnwrapOptions {
  /** The key (or dotted path) of the state dict inside the checkpoint; default: the first of STATE_DICT_KEYS present. */
  checkpointKey?: string;
}

/**
 * Finds the state dict in a checkpoint's object tree (unwrapping `model`, `state_dict`, `model_ema`, ...),
 * drops a `module.` prefix (DataParallel / DDP) shared by every key, and copies its tensors.
 */
export function extractStateDict(root: PickleValue, file: string, opts: UnwrapOptions = {}): StateDict {
  let cur = root;
  let where = 'the checkpoint';
  if (opts.checkpointKey) {
    const get = (m: PickleValue, k: string) => (m instanceof Map ? m.get(k) : m instanceof PickleObject && m.state instanceof Map ? m.state.get(k) : undefined);
    let v = get(cur, opts.checkpointKey);
    if (v === undefined) {
      v = cur;
      for (const part of opts.checkpointKey.split('.')) v = get(v, part);
    }
    if (v === undefined) {
      throw new WeightsFormatError(file, `--checkpoint-key '${opts.checkpointKey}' is not in the checkpoint${cur instanceof Map ? ` (top-level keys: ${describeKeys(cur)})` : ''}`);
    }
    cur = v;
    where = `'${opts.checkpointKey}'`;
  } else {
    // The tree may be cyclic ({'model': <itself>}): each map is visited once.
    const seen = new Set<PickleValue>();
    while (!isTensorMap(cur)) {
      if (!(cur instanceof Map)) throw new WeightsFormatError(file, 'checkpoint holds no state dict (no mapping of names to tensors)');
      seen.add(cur);
      const m = cur;
      const key = STATE_DICT_KEYS.find((k) => !seen.has(m.get(k)) && m.get(k) instanceof Map);
      if (!key) throw new WeightsFormatError(file, `cannot find the state dict in the checkpoint (top-level keys: ${describeKeys(m)}); pass --checkpoint-key`);
      cur = m.get(key);
      where = `'${key}'`;
    }
  }
  if (!isTensorMap(cur)) throw new WeightsFormatError(file, `${where} is not a state dict (a mapping of names to tensors)`);
  let entries = [...cur].filter(([, v]) => v instanceof TensorRef) as [string, TensorRef][];
  if (entries.every(([k]) => k.startsWith('module.'))) entries = entries.map(([k, v]) => [k.slice('module.'.length), v]);
  const sd: StateDict = new Map();
  for (const [k, ref] of entries) sd.set(k, ref.materialize(k));
  return sd;
}

/** Reads the state dict of a PyTorch checkpoint held in memory (see extractStateDict); `file` names it in errors. */
export function parseTorchCheckpoint(bytes: Uint8Array, file = '<buffer>', opts: UnwrapOptions = {}): StateDict {
  return withCheckpointObject(bufferSource(bytes), file, (root) => extractStateDict(root, file, opts));
}
