/**
 * PyTorch checkpoints (.pth / .pt / .bin / .ckpt / .tar) without Python: the zip format of torch >= 1.6
 * (`<root>/data.pkl` + `<root>/data/<key>` storages, ZIP64 included) and the legacy format (magic number,
 * protocol, sys info, the pickle, then the storages back to back). Pickles go through the whitelist
 * unpickler (./pickle.ts), so a checkpoint can never run code. Tensors are rebuilt from their storages with
 * any offset and strides (views of one storage), in the file's dtype (F16 / BF16 / I64 kept as stored).
 */
import { readFileSync } from 'node:fs';
import { type DType, DTYPE_BYTES, type HostTensor, type StateDict, dataFromBytes, numel, walkStrided } from './host_tensor.js';
import { PickleObject, type PickleValue, type SafeGlobal, UnsafePickleError, unpickle } from './pickle.js';
import { WeightsFormatError, readingWeights } from './safetensors.js';
import { type ByteSource, ZipReader, fileSource, looksLikeZip } from './zip.js';

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

/** A typed storage: its bytes are read when a tensor that uses it is materialized. */
class Storage {
  private bytes: Uint8Array | null = null;
  constructor(
    readonly dtype: DType,
    readonly key: string,
    readonly numel: number,
    private readonly load: () => Uint8Array,
  ) {}

  data(): Uint8Array {
    if (!this.bytes) {
      const b = this.load();
      const want = this.numel * DTYPE_BYTES[this.dtype];
      if (b.byteLength < want) throw new Error(`storage '${this.key}' holds ${b.byteLength} bytes, its ${this.numel} ${this.dtype} elements need ${want}`);
      this.bytes = b;
    }
    return this.bytes;
  }
}

/** What `_rebuild_tensor_v2` describes: a strided view of a storage. */
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

  /** Copies the view into a contiguous host tensor. */
  materialize(name: string): HostTensor {
    const { size, stride, offset } = this;
    const dtype = this.storage.dtype;
    const n = numel(size);
    const E = DTYPE_BYTES[dtype];
    if (n === 0) return { dtype, shape: [...size], data: dataFromBytes(dtype, new Uint8Array(0)) };
    let last = offset;
    for (let d = 0; d < size.length; d++) last += (size[d]! - 1) * stride[d]!;
    if (offset < 0 || last >= this.storage.numel || stride.some((s) => s < 0)) {
      throw new Error(`tensor '${name}' (size [${size}], stride [${stride}], offset ${offset}) reaches outside its storage of ${this.storage.numel} elements`);
    }
    const src = this.storage.data();
    let contiguous = true;
    for (let d = size.length - 1, s = 1; d >= 0; d--) {
      if (size[d] !== 1 && stride[d] !== s) contiguous = false;
      s *= size[d]!;
    }
    if (contiguous) return { dtype, shape: [...size], data: dataFromBytes(dtype, src.subarray(offset * E, (offset + n) * E)) };
    const out = new Uint8Array(n * E);
    walkStrided(size, stride, offset, (o, off) => out.set(src.subarray(off * E, off * E + E), o * E));
    return { dtype, shape: [...size], data: dataFromBytes(dtype, out) };
  }
}

/** A numpy array inside a checkpoint (metadata such as best metrics); kept as raw bytes. */
class NumpyArray {
  shape: number[] = [];
  dtype = '';
  data: Uint8Array = new Uint8Array(0);
}

const toInts = (v: PickleValue, what: string): number[] => {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) throw new Error(`${what} is not a tuple of integers`);
  return v as number[];
};

function numpyScalar(dtype: PickleValue, raw: PickleValue): PickleValue {
  const code = dtype instanceof PickleObject ? String(dtype.args[0]) : String(dtype);
  if (!(raw instanceof Uint8Array)) return null;
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (code) {
    case 'f8': return v.getFloat64(0, true);
    case 'f4': return v.getFloat32(0, true);
    case 'i8': return Number(v.getBigInt64(0, true));
    case 'i4': return v.getInt32(0, true);
    case 'u1': case 'b1': return raw[0];
    default: return null;
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
    if (!(storage instanceof Storage)) throw new Error('tensor rebuild without a storage');
    return new TensorRef(storage, Number(offset), toInts(size, 'tensor size'), toInts(stride, 'tensor stride'));
  };
  add('collections.OrderedDict', (a) => new Map(Array.isArray(a[0]) ? (a[0] as [PickleValue, PickleValue][]) : []));
  add('torch._utils._rebuild_tensor', rebuild);
  add('torch._utils._rebuild_tensor_v2', rebuild);
  add('torch._utils._rebuild_parameter', (a) => a[0]);
  add('torch._utils._rebuild_parameter_with_state', (a) => a[0]);
  add('torch._tensor._rebuild_from_type_v2', (a) => {
    const [fn, , args] = a;
    const g = fn as SafeGlobal;
    if (!g?.call) throw new Error('_rebuild_from_type_v2 without a whitelisted rebuild function');
    return g.call(args as PickleValue[]);
  });
  add('torch.nn.parameter.Parameter', (a) => a[0]);
  add('torch.Tensor');
  add('torch.Size', (a) => [...((a[0] as number[]) ?? [])]);
  for (const s of Object.keys(STORAGE_DTYPES)) add(`torch.${s}`);
  for (const b of ['builtins', '__builtin__']) {
    add(`${b}.set`, (a) => new Set((a[0] as PickleValue[]) ?? []));
    add(`${b}.frozenset`, (a) => new Set((a[0] as PickleValue[]) ?? []));
    add(`${b}.list`, (a) => [...((a[0] as PickleValue[]) ?? [])]);
    add(`${b}.tuple`, (a) => [...((a[0] as PickleValue[]) ?? [])]);
  }
  // Protocol 2 spells bytes as _codecs.encode(latin-1 text, 'latin1').
  add('_codecs.encode', (a) => Uint8Array.from(String(a[0]), (c) => c.charCodeAt(0) & 0xff));
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
    obj.shape = toInts(state[1], 'numpy shape');
    obj.dtype = state[2] instanceof PickleObject ? String(state[2].args[0]) : '';
    obj.data = state[4] instanceof Uint8Array ? state[4] : new Uint8Array(0);
  }
  return obj;
}

function unpickleTorch(bytes: Uint8Array, file: string, persistentLoad: (pid: PickleValue) => PickleValue, pos = 0) {
  return unpickle(bytes, { file, resolveGlobal: (mod, name) => WHITELIST.get(`${mod}.${name}`), persistentLoad, build: buildState }, pos);
}

function storageType(t: PickleValue, file: string): DType {
  const g = t as SafeGlobal;
  const dtype = g && g.module === 'torch' ? STORAGE_DTYPES[g.name] : undefined;
  if (!dtype) throw new WeightsFormatError(file, `unsupported storage type ${g?.module}.${g?.name}`);
  return dtype;
}

function readZipCheckpoint(src: ByteSource, file: string): PickleValue {
  const zip = new ZipReader(src, file);
  const pkl = [...zip.entries.keys()].find((n) => n === 'data.pkl' || /^[^/]+\/data\.pkl$/.test(n));
  if (!pkl) {
    const names = [...zip.entries.keys()];
    const hint = names.some((n) => n.endsWith('constants.pkl')) ? ' (a TorchScript archive: load it in PyTorch and save model.state_dict())' : '';
    throw new WeightsFormatError(file, `ZIP archive without data.pkl: not a torch.save checkpoint${hint}`);
  }
  const root = pkl.slice(0, pkl.length - 'data.pkl'.length);
  if (zip.entries.has(`${root}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${root}byteorder`)).trim();
    if (order !== 'little') throw new WeightsFormatError(file, `checkpoint was written in ${order}-endian byte order; only little-endian is supported`);
  }
  const storages = new Map<string, Storage>();
  const value = unpickleTorch(zip.read(pkl), file, (pid) => {
    if (!Array.isArray(pid) || pid[0] !== 'storage') throw new WeightsFormatError(file, `unexpected persistent id ${JSON.stringify(pid)}`);
    const [, type, key, , n] = pid as [string, PickleValue, string, string, number];
    let s = storages.get(String(key));
    if (!s) {
      const dtype = storageType(type, file);
      s = new Storage(dtype, String(key), Number(n), () => zip.read(`${root}data/${key}`));
      storages.set(String(key), s);
    }
    return s;
  }).value;
  return value;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

function readLegacyCheckpoint(bytes: Uint8Array, file: string): PickleValue {
  const noPid = () => {
    throw new WeightsFormatError(file, 'unexpected persistent id in the legacy header');
  };
  const magic = unpickleTorch(bytes, file, noPid);
  if (BigInt(magic.value as number | bigint) !== LEGACY_MAGIC) throw new WeightsFormatError(file, 'not a PyTorch checkpoint (neither a ZIP archive nor the legacy magic number)');
  const proto = unpickleTorch(bytes, file, noPid, magic.end);
  if (proto.value !== 1001) throw new WeightsFormatError(file, `unsupported legacy protocol version ${String(proto.value)}`);
  const sysInfo = unpickleTorch(bytes, file, noPid, proto.end);
  const info = sysInfo.value as Map<string, unknown>;
  if (info instanceof Map && info.get('little_endian') === false) throw new WeightsFormatError(file, 'big-endian legacy checkpoints are not supported');
  // Storages come after the pickle; tensors keep references and read them once the offsets are known.
  const roots = new Map<string, { dtype: DType; numel: number; bytes: Uint8Array | null }>();
  const views = new Map<string, Storage>();
  const main = unpickleTorch(bytes, file, (pid) => {
    if (!Array.isArray(pid) || pid[0] !== 'storage') throw new WeightsFormatError(file, `unexpected persistent id ${JSON.stringify(pid)}`);
    const [, type, rootKey, , n, view] = pid as [string, PickleValue, string, string, number, PickleValue];
    const dtype = storageType(type, file);
    const key = String(rootKey);
    if (!roots.has(key)) roots.set(key, { dtype, numel: Number(n), bytes: null });
    const root = roots.get(key)!;
    const rootData = () => {
      if (!root.bytes) throw new WeightsFormatError(file, `storage '${key}' was never written (truncated file?)`);
      return root.bytes;
    };
    if (Array.isArray(view)) {
      const [viewKey, off, size] = view as [string, number, number];
      const E = DTYPE_BYTES[dtype];
      if (!views.has(String(viewKey))) views.set(String(viewKey), new Storage(dtype, String(viewKey), Number(size), () => rootData().subarray(off * E, (off + size) * E)));
      return views.get(String(viewKey));
    }
    return new Storage(dtype, key, root.numel, rootData);
  }, sysInfo.end);
  const keys = unpickleTorch(bytes, file, noPid, main.end);
  if (!Array.isArray(keys.value)) throw new WeightsFormatError(file, 'legacy storage key list is missing');
  let pos = keys.end;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (const k of keys.value as string[]) {
    const r = roots.get(String(k));
    if (!r) throw new WeightsFormatError(file, `legacy storage '${k}' is not referenced by the pickle`);
    if (pos + 8 > bytes.byteLength) throw new WeightsFormatError(file, `legacy storage '${k}' is cut off at byte ${bytes.byteLength} (truncated file?)`);
    const n = Number(view.getBigInt64(pos, true));
    const len = n * DTYPE_BYTES[r.dtype];
    pos += 8;
    if (pos + len > bytes.byteLength) throw new WeightsFormatError(file, `legacy storage '${k}' needs ${len} bytes at ${pos} but the file has ${bytes.byteLength} (truncated file?)`);
    r.bytes = bytes.subarray(pos, pos + len);
    pos += len;
  }
  return main.value;
}

/**
 * Opens a PyTorch checkpoint and passes its object tree (Maps for dicts, TensorRef for tensors, not yet
 * copied) to `fn`; storages stay readable until `fn` returns.
 */
export function withTorchObject<T>(path: string, fn: (root: PickleValue) => T): T {
  const src = readingWeights(path, fileSource);
  try {
    if (src.size < 4) throw new WeightsFormatError(path, `file is ${src.size} bytes: not a PyTorch checkpoint`);
    let root: PickleValue;
    if (looksLikeZip(src.read(0, 4))) root = readZipCheckpoint(src, path);
    else {
      const buf = readFileSync(path);
      root = readLegacyCheckpoint(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
    }
    return fn(root);
  } catch (e) {
    if (e instanceof WeightsFormatError || e instanceof UnsafePickleError) throw e;
    const msg = (e as Error).message;
    throw new WeightsFormatError(path, msg.startsWith(`${path}: `) ? msg.slice(path.length + 2) : msg);
  } finally {
    src.close();
  }
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
  const keys = [...v.keys()].map(String);
  return keys.length > 12 ? `${keys.slice(0, 12).join(', ')}, ... (${keys.length - 12} more)` : keys.join(', ');
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
    while (!isTensorMap(cur)) {
      if (!(cur instanceof Map)) throw new WeightsFormatError(file, 'checkpoint holds no state dict (no mapping of names to tensors)');
      const key = STATE_DICT_KEYS.find((k) => isTensorMap(cur instanceof Map ? cur.get(k) : null) || (cur as Map<PickleValue, PickleValue>).get(k) instanceof Map);
      if (!key) throw new WeightsFormatError(file, `cannot find the state dict in the checkpoint (top-level keys: ${describeKeys(cur)}); pass --checkpoint-key`);
      cur = cur.get(key);
      where = `'${key}'`;
    }
  }
  if (!isTensorMap(cur)) throw new WeightsFormatError(file, `${where} is not a state dict (a mapping of names to tensors)`);
  let entries = [...cur].filter(([, v]) => v instanceof TensorRef) as [string, TensorRef][];
  if (entries.every(([k]) => k.startsWith('module.'))) entries = entries.map(([k, v]) => [k.slice('module.'.length), v]);
  const sd: StateDict = new Map();
  for (const [k, ref] of entries) {
    try {
      sd.set(k, ref.materialize(k));
    } catch (e) {
      throw new WeightsFormatError(file, (e as Error).message);
    }
  }
  return sd;
}

/** Reads the state dict of a PyTorch checkpoint (see extractStateDict). */
export function readTorchCheckpoint(path: string, opts: UnwrapOptions = {}): StateDict {
  return withTorchObject(path, (root) => extractStateDict(root, path, opts));
}
