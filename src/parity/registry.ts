/**
 * Parity builders: how to build an official class (by architecture and class name) from its
 * constructor kwargs, and how to call it on the fixture's inputs.
 */
import type { Tensor } from '../tf.js';
import type { Module } from '../nn/module.js';
import type { ParityCase } from './manifest.js';

export interface ParityContext {
  kwargs: Record<string, unknown>;
  forwardKwargs: Record<string, unknown>;
  parityCase: ParityCase;
}

/**
 * What a builder returns: the module to load the case's weights into (absent for function cases) and a
 * call that maps inputs (NCHW inputs already in NHWC) to outputs: one tensor (`__output__`), a list
 * (`__output__`, `__output_1__`, ...), or outputs by name. NHWC outputs are compared against NCHW
 * fixtures after transposition.
 */
export interface ParityTarget {
  module?: Module;
  run(inputs: Tensor[]): Tensor | Tensor[] | Record<string, Tensor>;
}

export type ParityBuilder = (ctx: ParityContext) => ParityTarget;

const builders = new Map<string, ParityBuilder>();

/**
 * A manifest's class string without its annotations, which may carry parameter values:
 * "DiNAT (subclass of NAT)" -> "DiNAT", "forward (top-k=8)" -> "forward", and a stray parenthesis left
 * where a generator cut a longer description short ("forward)") -> "forward". Builders are keyed by this,
 * so no key ever holds a value that the kwargs give.
 */
export function canonicalClassName(name: string): string {
  let s = name;
  for (let prev = ''; prev !== s; ) {
    prev = s;
    s = s.replace(/\s*\([^()]*\)/g, '');
  }
  return s.replace(/[()]/g, '').trim();
}

const keyOf = (architecture: string, className: string, module?: string) => `${architecture}::${canonicalClassName(className)}${module === undefined ? '' : `@${module}`}`;

/**
 * Registers a builder for an official class. `opts.module` (the manifest's `module` field, e.g.
 * 'classification/models/blocks.py') narrows it to the cases of that source file: manifests whose
 * `architecture` is empty name different classes alike ('Block', 'PatchEmbed'), and the file tells them apart.
 */
export function registerParityBuilder(architecture: string, classNames: string | string[], builder: ParityBuilder, opts: { module?: string } = {}): void {
  for (const c of Array.isArray(classNames) ? classNames : [classNames]) {
    if (canonicalClassName(c) !== c) throw new Error(`parity builder '${c}': register the bare class name`);
    builders.set(keyOf(architecture, c, opts.module), builder);
  }
}

/** The builder for a case: one registered for its source file first, else one for the class alone. */
export function findParityBuilder(architecture: string, className: string, module?: string): ParityBuilder | undefined {
  return (module === undefined ? undefined : builders.get(keyOf(architecture, className, module))) ?? builders.get(keyOf(architecture, className));
}

/** Typed kwarg readers with the official defaults. */
export function kwNumber(kw: Record<string, unknown>, name: string, dflt?: number): number {
  const v = kw[name] ?? dflt;
  if (typeof v !== 'number') throw new Error(`kwarg '${name}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

export function kwNumbers(kw: Record<string, unknown>, name: string, dflt?: number[]): number[] {
  const v = kw[name] ?? dflt;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new Error(`kwarg '${name}' must be a list of numbers, got ${JSON.stringify(v)}`);
  return v as number[];
}

export function kwBool(kw: Record<string, unknown>, name: string, dflt?: boolean): boolean {
  const v = kw[name] ?? dflt;
  if (typeof v !== 'boolean') throw new Error(`kwarg '${name}' must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

export function kwString(kw: Record<string, unknown>, name: string, dflt?: string): string {
  const v = kw[name] ?? dflt;
  if (typeof v !== 'string') throw new Error(`kwarg '${name}' must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** A number kwarg that may be None (null when absent or None). */
export function kwOptNumber(kw: Record<string, unknown>, name: string): number | null {
  return kw[name] === undefined || kw[name] === null ? null : kwNumber(kw, name);
}

/** An int-or-pair kwarg read as timm's to_2tuple does: 224 -> [224, 224], [H, W] as given. */
export function kwSize(kw: Record<string, unknown>, name: string, dflt?: number | [number, number]): [number, number] {
  const v = kw[name] ?? dflt;
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'number')) return [v[0], v[1]] as [number, number];
  throw new Error(`kwarg '${name}' must be a number or an [H, W] pair, got ${JSON.stringify(v)}`);
}

/**
 * Kwargs vizoo does not implement: each must be absent, None, or the one value that vizoo computes (e.g. the
 * official default); anything else is refused by name instead of being silently ignored.
 */
export function refuseKwargs(kw: Record<string, unknown>, accepted: Record<string, unknown>): void {
  for (const [name, ok] of Object.entries(accepted)) {
    const v = kw[name];
    if (v !== undefined && v !== null && JSON.stringify(v) !== JSON.stringify(ok)) throw new Error(`kwarg ${name}=${JSON.stringify(v)} is not supported (vizoo implements ${JSON.stringify(ok)})`);
  }
}

/** eps of a norm_layer kwarg such as "partial(nn.LayerNorm, eps=1e-6)"; `dflt` for a bare class. */
export function normLayerEps(spec: unknown, dflt: number): number {
  if (spec === undefined || spec === null) return dflt;
  const m = /eps\s*=\s*([0-9.eE+-]+)/.exec(String(spec));
  return m ? Number(m[1]) : dflt;
}
