/**
 * Writes a state dict as a torch.save zip checkpoint (pickle protocol 2, one storage per tensor), which
 * `torch.load(path)` returns as an OrderedDict of tensors: vizoo weights go straight into the official
 * PyTorch code (load_state_dict) for DDP training.
 */
import { basename, extname } from 'node:path';
import { atomicWriteFile } from '../util/fs.js';
import { type DType, type StateDict, bytesOf } from './host_tensor.js';
import { buildStoredZip } from './zip.js';

const STORAGE_OF: Record<DType, string> = {
  F32: 'FloatStorage',
  F64: 'DoubleStorage',
  F16: 'HalfStorage',
  BF16: 'BFloat16Storage',
  I64: 'LongStorage',
  I32: 'IntStorage',
  I16: 'ShortStorage',
  I8: 'CharStorage',
  U8: 'ByteStorage',
  BOOL: 'BoolStorage',
};

class PickleWriter {
  private readonly out: number[] = [];
  private readonly enc = new TextEncoder();
  private memo = 0;
  private readonly globals = new Map<string, number>();

  op(...b: number[]): this {
    this.out.push(...b);
    return this;
  }

  private put(): void {
    if (this.memo < 256) this.op(0x71, this.memo++);
    else {
      const n = this.memo++;
      this.op(0x72, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
    }
  }

  private get(n: number): void {
    if (n < 256) this.op(0x68, n);
    else this.op(0x6a, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);
  }

  str(s: string): this {
    const b = this.enc.encode(s);
    const n = b.byteLength;
    this.op(0x58, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24, ...b);
    return this;
  }

  int(v: number): this {
    if (v >= 0 && v < 256) return this.op(0x4b, v);
    if (v >= 0 && v < 65536) return this.op(0x4d, v & 0xff, v >>> 8);
    if (v >= -2147483648 && v <= 2147483647) return this.op(0x4a, v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
    // LONG1: little-endian two's complement
    let x = BigInt(v);
    const bytes: number[] = [];
    for (let i = 0; i < 8; i++) (bytes.push(Number(x & 0xffn)), (x >>= 8n));
    return this.op(0x8a, 8, ...bytes);
  }

  global(module: string, name: string): this {
    const key = `${module}.${name}`;
    const seen = this.globals.get(key);
    if (seen !== undefined) {
      this.get(seen);
      return this;
    }
    this.op(0x63, ...this.enc.encode(`${module}\n${name}\n`));
    this.globals.set(key, this.memo);
    this.put();
    return this;
  }

  tuple(items: (() => void)[]): this {
    if (items.length === 0) return this.op(0x29);
    this.op(0x28);
    for (const f of items) f();
    return this.op(0x74);
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

/** Contiguous strides of `shape`. */
function strides(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let d = shape.length - 1, acc = 1; d >= 0; d--) (s[d] = acc), (acc *= shape[d]!);
  return s;
}

/** A checkpoint's top level: a state dict, or a dict of state dicts and plain values ({model, model_ema, epoch}). */
export type CheckpointContent = StateDict | Record<string, StateDict | number | string | null>;

export function serializeTorchCheckpoint(content: CheckpointContent, opts: { archiveName?: string; zip64?: boolean } = {}): Uint8Array[] {
  const root = opts.archiveName ?? 'archive';
  const w = new PickleWriter();
  const storages: { name: string; data: Uint8Array }[] = [];
  const stateDict = (sd: StateDict) => {
    w.global('collections', 'OrderedDict').op(0x29, 0x52); // OrderedDict()
    if (sd.size === 0) return;
    w.op(0x28); // MARK for SETITEMS
    for (const [key, t] of sd) {
      const id = String(storages.length);
      w.str(key);
      w.global('torch._utils', '_rebuild_tensor_v2');
      w.tuple([
        () => {
          w.tuple([() => w.str('storage'), () => w.global('torch', STORAGE_OF[t.dtype]), () => w.str(id), () => w.str('cpu'), () => w.int(t.data.length)]);
          w.op(0x51); // BINPERSID
        },
        () => w.int(0),
        () => w.tuple(t.shape.map((d) => () => w.int(d))),
        () => w.tuple(strides(t.shape).map((d) => () => w.int(d))),
        () => w.op(0x89), // requires_grad False
        () => w.global('collections', 'OrderedDict').op(0x29, 0x52),
      ]);
      w.op(0x52); // REDUCE
      storages.push({ name: `${root}/data/${id}`, data: bytesOf(t) });
    }
    w.op(0x75); // SETITEMS
  };
  w.op(0x80, 2);
  if (content instanceof Map) stateDict(content);
  else {
    w.op(0x7d); // EMPTY_DICT
    const entries = Object.entries(content);
    if (entries.length) {
      w.op(0x28);
      for (const [k, v] of entries) {
        w.str(k);
        if (v instanceof Map) stateDict(v);
        else if (typeof v === 'number') w.int(v);
        else if (typeof v === 'string') w.str(v);
        else w.op(0x4e); // None
      }
      w.op(0x75);
    }
  }
  w.op(0x2e); // STOP
  const enc = new TextEncoder();
  return buildStoredZip(
    [
      { name: `${root}/data.pkl`, data: w.bytes() },
      { name: `${root}/byteorder`, data: enc.encode('little') },
      ...storages,
      { name: `${root}/version`, data: enc.encode('3\n') },
    ],
    { zip64: opts.zip64 },
  );
}

/** Writes a PyTorch checkpoint (atomic write). */
export function writeTorchCheckpoint(path: string, content: CheckpointContent, opts: { zip64?: boolean } = {}): void {
  const stem = basename(path, extname(path)).replace(/[^A-Za-z0-9_]/g, '_') || 'archive';
  atomicWriteFile(path, serializeTorchCheckpoint(content, { archiveName: stem, zip64: opts.zip64 }));
}
