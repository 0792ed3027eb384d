/**
 * A small PyTorch-like module system over tfjs-core: named parameters and buffers registered in the
 * official order, state dicts under official keys in PyTorch layouts, train/eval, lazy seeded init.
 */
import { tf, type Tensor, type Variable } from '../tf.js';
import { type HostTensor, type StateDict, numel, toFloat32, toInt32 } from '../hub/host_tensor.js';
import { type ParamLayout, PLAIN } from './layout.js';
import type { Init } from './init.js';
import { Rng } from './rng.js';
import { keyName } from '../util/summary.js';

export type ParamDType = 'float32' | 'int64';

let nextSerial = 0;

/**
 * A parameter or buffer. Its PyTorch shape and init are fixed at construction; the tfjs variable is
 * created on first use, from a state dict, or by `Module.initialize(seed)`.
 */
export class Parameter {
  readonly shape: number[];
  readonly layout: ParamLayout;
  readonly dtype: ParamDType;
  readonly isBuffer: boolean;
  /** Buffers that are not saved in state dicts (PyTorch `persistent=False`). */
  readonly persistent: boolean;
  init: Init;
  private variable: Variable | null = null;
  private trainableFlag: boolean;
  private readonly serial = nextSerial++;

  constructor(
    shape: readonly number[],
    init: Init,
    opts: { layout?: ParamLayout; dtype?: ParamDType; buffer?: boolean; persistent?: boolean; trainable?: boolean } = {},
  ) {
    this.shape = [...shape];
    this.init = init;
    this.layout = opts.layout ?? PLAIN;
    this.dtype = opts.dtype ?? 'float32';
    this.isBuffer = opts.buffer ?? false;
    this.persistent = opts.persistent ?? true;
    this.trainableFlag = opts.trainable ?? !this.isBuffer;
  }

  get materialized(): boolean {
    return this.variable !== null;
  }

  get numel(): number {
    return numel(this.shape);
  }

  /** The shape of `value` (tfjs layout). */
  get tfShape(): number[] {
    return this.layout.tfShape(this.shape);
  }

  /** The tfjs variable (tfjs layout). Materializes with a fallback seed if nobody initialized it. */
  get value(): Variable {
    if (!this.variable) this.materialize(Rng.derive(0, `#${this.serial}`));
    return this.variable!;
  }

  get trainable(): boolean {
    return this.trainableFlag;
  }

  set trainable(t: boolean) {
    this.trainableFlag = t && !this.isBuffer;
    if (this.variable) this.variable.trainable = this.trainableFlag;
  }

  materialize(rng: Rng): void {
    this.setTorch(this.init(this.shape, rng));
  }

  /** Sets the value from PyTorch-layout numbers. */
  setTorch(data: Float32Array | Int32Array): void {
    if (data.length !== this.numel) throw new Error(`expected ${this.numel} values for shape [${this.shape}], got ${data.length}`);
    tf.tidy(() => {
      const t = this.dtype === 'int64' ? tf.tensor(Int32Array.from(data), this.shape, 'int32') : tf.tensor(data, this.shape, 'float32');
      this.assignTf(this.layout.toTf(t));
    });
  }

  /** Sets the value from a tfjs-layout tensor (kept by the variable; the caller still owns `t`). */
  assignTf(t: Tensor): void {
    const want = this.tfShape;
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      throw new Error(`value of shape [${t.shape}] does not fit parameter of tfjs shape [${want}]`);
    }
    const v = tf.cast(t, this.dtype === 'int64' ? 'int32' : 'float32');
    if (this.variable) this.variable.assign(v);
    else this.variable = tf.variable(v, this.trainableFlag);
    if (v !== t) v.dispose();
  }

  /** The value in PyTorch layout, read back to the host (async: WebGPU must not be read synchronously). */
  async toHost(): Promise<HostTensor> {
    const t = tf.tidy(() => this.layout.toTorch(this.value));
    const data = await t.data();
    t.dispose();
    if (this.dtype === 'int64') {
      return { dtype: 'I64', shape: [...this.shape], data: BigInt64Array.from(data as Int32Array, (v) => BigInt(v)) };
    }
    return { dtype: 'F32', shape: [...this.shape], data: new Float32Array(data as Float32Array) };
  }

  dispose(): void {
    this.variable?.dispose();
    this.variable = null;
  }
}

export interface StateDictEntryInfo {
  key: string;
  shape: number[];
  dtype: ParamDType;
}

export class StateDictError extends Error {
  constructor(
    readonly missing: string[],
    readonly unexpected: string[],
    readonly mismatched: { key: string; expected: number[]; got: number[] }[],
    what: string,
  ) {
    // One short line (CLI errors are one line): counts and a few examples; the fields keep everything.
    const some = (keys: string[]) => `${keys.slice(0, 3).map(keyName).join(', ')}${keys.length > 3 ? ', ...' : ''}`;
    const parts: string[] = [];
    if (missing.length) parts.push(`${missing.length} keys missing (${some(missing)})`);
    if (unexpected.length) parts.push(`${unexpected.length} unexpected (${some(unexpected)})`);
    if (mismatched.length) {
      const m = mismatched[0]!;
      parts.push(`${mismatched.length} shape mismatch${mismatched.length > 1 ? 'es' : ''} (${keyName(m.key)}: file [${m.got.join(', ')}], model [${m.expected.join(', ')}]${mismatched.length > 1 ? ', ...' : ''})`);
    }
    super(`the weights do not fit ${what}: ${parts.join(', ')}`);
    this.name = 'StateDictError';
  }
}

export interface LoadResult {
  missing: string[];
  unexpected: string[];
}

export class Module {
  training = true;
  private readonly ownParams = new Map<string, Parameter>();
  private readonly ownBuffers = new Map<string, Parameter>();
  private readonly children = new Map<string, Module>();
  /** Tensors derived from parameters for inference (see `derived`), with the data they were made from. */
  private readonly derivedCache = new Map<string, { sources: object[]; tensors: Tensor[] }>();

  /** Registers a trainable parameter (PyTorch shape) and returns it. */
  protected param(name: string, shape: readonly number[], init: Init, layout: ParamLayout = PLAIN): Parameter {
    return this.registerParameter(name, new Parameter(shape, init, { layout }));
  }

  /** Registers a buffer: saved in the state dict, never trained. */
  protected buffer(name: string, shape: readonly number[], init: Init, dtype: ParamDType = 'float32', persistent = true): Parameter {
    const p = new Parameter(shape, init, { buffer: true, dtype, persistent });
    this.checkName(name);
    this.ownBuffers.set(name, p);
    return p;
  }

  protected registerParameter(name: string, p: Parameter): Parameter {
    this.checkName(name);
    this.ownParams.set(name, p);
    return p;
  }

  /** Registers a child module under `name` (registration order = state dict order) and returns it. */
  protected add<M extends Module>(name: string, m: M): M {
    this.checkName(name);
    this.children.set(name, m);
    return m;
  }

  private checkName(name: string): void {
    if (!name || name.includes('.')) throw new Error(`invalid member name '${name}'`);
    if (this.ownParams.has(name) || this.ownBuffers.has(name) || this.children.has(name)) {
      throw new Error(`member '${name}' registered twice in ${this.constructor.name}`);
    }
  }

  /**
   * Registers another module's parameters, buffers and children as this module's own, under the same
   * names and order, except the children named in `exclude` (a features-only view keeps the official
   * keys without the classifier).
   */
  protected adoptMembers(from: Module, exclude: readonly string[] = []): void {
    for (const [n, p] of from.ownParams) this.registerParameter(n, p);
    for (const [n, b] of from.ownBuffers) {
      this.checkName(n);
      this.ownBuffers.set(n, b);
    }
    for (const [n, c] of from.children) if (!exclude.includes(n)) this.add(n, c);
  }

  /**
   * Swaps the child registered under `name` for `m`, keeping its place in the state dict order (PyTorch's
   * `self.name = new_module` on an existing attribute). Used by structural re-parameterization.
   */
  protected replaceChild<M extends Module>(name: string, m: M): M {
    if (!this.children.has(name)) throw new Error(`${this.constructor.name} has no child '${name}' to replace`);
    this.children.set(name, m);
    return m;
  }

  /**
   * Unregisters a parameter, buffer or child (PyTorch's `delattr`, or setting a parameter to None). The
   * removed parameters keep their variables; the caller disposes them when nothing else shares them.
   */
  protected removeMember(name: string): void {
    if (!this.ownParams.delete(name) && !this.ownBuffers.delete(name) && !this.children.delete(name)) {
      throw new Error(`${this.constructor.name} has no member '${name}' to remove`);
    }
  }

  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  /** This module and every descendant with its dotted name ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, c] of this.children) out.push(...c.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }

  /** Calls `fn` on every descendant, children first, then this module (PyTorch's `Module.apply`). */
  apply(fn: (m: Module) => void): this {
    for (const c of this.children.values()) c.apply(fn);
    fn(this);
    return this;
  }

  namedParameters(prefix = ''): [string, Parameter][] {
    return this.collect(prefix, false).filter(([, p]) => !p.isBuffer);
  }

  namedBuffers(prefix = ''): [string, Parameter][] {
    return this.collect(prefix, true).filter(([, p]) => p.isBuffer);
  }

  /** Every state dict entry in PyTorch order: own parameters, own buffers, then children recursively. */
  stateEntries(prefix = ''): [string, Parameter][] {
    return this.collect(prefix, true).filter(([, p]) => p.persistent);
  }

  private collect(prefix: string, withBuffers: boolean): [string, Parameter][] {
    const key = (n: string) => (prefix ? `${prefix}.${n}` : n);
    const out: [string, Parameter][] = [];
    for (const [n, p] of this.ownParams) out.push([key(n), p]);
    if (withBuffers) for (const [n, b] of this.ownBuffers) out.push([key(n), b]);
    for (const [n, c] of this.children) out.push(...c.collect(key(n), withBuffers));
    return out;
  }

  parameters(): Parameter[] {
    return [...new Set(this.namedParameters().map(([, p]) => p))];
  }

  /** Number of parameter elements (buffers excluded), as PyTorch's sum(p.numel() for p in parameters()). */
  numParams(): number {
    return this.parameters().reduce((s, p) => s + p.numel, 0);
  }

  stateDictInfo(): StateDictEntryInfo[] {
    return this.stateEntries().map(([key, p]) => ({ key, shape: [...p.shape], dtype: p.dtype }));
  }

  /** The state dict: official keys, PyTorch layouts, F32 (int64 buffers as I64). */
  async stateDict(): Promise<StateDict> {
    const sd: StateDict = new Map();
    for (const [k, p] of this.stateEntries()) sd.set(k, await p.toHost());
    return sd;
  }

  /**
   * Loads a state dict. Every key and shape is checked before anything is assigned; strict mode also
   * refuses missing and unexpected keys. Shape mismatches are always errors. Returns what was skipped.
   */
  loadStateDict(sd: StateDict | Record<string, HostTensor>, opts: { strict?: boolean } = {}): LoadResult {
    const strict = opts.strict ?? true;
    const entries = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = new Map(this.stateEntries());
    const missing = [...own.keys()].filter((k) => !entries.has(k));
    const unexpected = [...entries.keys()].filter((k) => !own.has(k));
    const mismatched: { key: string; expected: number[]; got: number[] }[] = [];
    for (const [k, p] of own) {
      const t = entries.get(k);
      if (!t) continue;
      const same = t.shape.length === p.shape.length && t.shape.every((d, i) => d === p.shape[i]);
      // A 1-element tensor fits a scalar slot and vice versa (num_batches_tracked is saved as () or (1,)).
      const scalarish = numel(t.shape) === 1 && p.numel === 1 && (t.shape.length === 0 || p.shape.length === 0);
      if (!same && !scalarish) mismatched.push({ key: k, expected: p.shape, got: t.shape });
    }
    if (mismatched.length || (strict && (missing.length || unexpected.length))) {
      throw new StateDictError(strict ? missing : [], strict ? unexpected : [], mismatched, (this as { variant?: string }).variant || this.constructor.name);
    }
    for (const [k, p] of own) {
      const t = entries.get(k);
      if (!t) continue;
      p.setTorch(p.dtype === 'int64' ? toInt32(t, k) : toFloat32(t));
    }
    return { missing, unexpected };
  }

  /** Materializes every parameter and buffer not yet set, each from Rng(seed, its key). */
  initialize(seed = 0): this {
    for (const [k, p] of this.collect('', true)) if (!p.materialized) p.materialize(Rng.derive(seed, k));
    return this;
  }

  /** Training mode drops the derived tensors: the parameters are about to change, and they hold memory. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    if (mode) this.releaseDerived();
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /**
   * Tensors `make` computes from `sources` (parameter values), kept across calls under `name` and made again
   * when any source holds other data: an assignment (optimizer step, state-dict load) gives a variable new
   * data. Freed by `dispose`.
   */
  protected derived(name: string, sources: readonly Tensor[], make: () => Tensor[]): Tensor[] {
    const ids = sources.map((t) => t.dataId as object);
    const hit = this.derivedCache.get(name);
    if (hit && hit.sources.length === ids.length && hit.sources.every((d, i) => d === ids[i])) return hit.tensors;
    if (hit) tf.dispose(hit.tensors);
    // Kept: a caller's tidy must not free what outlives the call.
    const tensors = tf.tidy(make).map((t) => tf.keep(t));
    this.derivedCache.set(name, { sources: ids, tensors });
    return tensors;
  }

  private releaseDerived(): void {
    for (const [, m] of this.namedModules()) {
      for (const d of m.derivedCache.values()) tf.dispose(d.tensors);
      m.derivedCache.clear();
    }
  }

  /** Frees every variable and derived tensor. */
  dispose(): void {
    this.releaseDerived();
    for (const [, p] of this.collect('', true)) p.dispose();
  }
}

/** A module that maps one tensor to one tensor. */
export interface Layer {
  forward(x: Tensor): Tensor;
}

export type LayerModule = Module & Layer;

/** Children named 0..n-1, applied in order (torch.nn.Sequential). Parameterless members keep their index. */
export class Sequential extends Module implements Layer {
  readonly layers: LayerModule[];

  constructor(...layers: LayerModule[]) {
    super();
    this.layers = layers;
    layers.forEach((l, i) => this.add(String(i), l));
  }

  forward(x: Tensor): Tensor {
    let y = x;
    for (let i = 0; i < this.layers.length; ) {
      const l = this.layers[i]!;
      if (isChainLayer(l)) {
        const [out, ran] = l.forwardChain(y, this.layers.slice(i + 1));
        y = out;
        i += 1 + ran;
      } else {
        y = l.forward(y);
        i++;
      }
    }
    return y;
  }
}

/** A layer that may run some of the layers after it together with itself (a conv and its batch norm). */
export interface ChainLayer extends Layer {
  /** Runs this layer and the first `ran` of `next` on x, in order (as one op where it can). */
  forwardChain(x: Tensor, next: readonly Layer[]): [Tensor, number];
}

function isChainLayer(l: Layer): l is ChainLayer {
  return typeof (l as Partial<ChainLayer>).forwardChain === 'function';
}

/** Children named 0..n-1 without a forward of its own (torch.nn.ModuleList). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];

  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.add(String(i), m));
  }

  get length(): number {
    return this.items.length;
  }

  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}
