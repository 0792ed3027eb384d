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

interface Registered {
  builder: ParityBuilder;
  /** Matches the case's `module` field (official source file), for class names that several repos share. */
  module?: RegExp;
}

const builders = new Map<string, Registered[]>();

const keyOf = (architecture: string, className: string) => `${architecture}::${className}`;

/**
 * Registers a builder for official class names. With `opts.module`, the builder only serves cases whose
 * `module` (official source file) matches, so families whose manifests share an architecture and class name
 * (e.g. '' and 'PatchEmbed') do not overwrite each other.
 */
export function registerParityBuilder(architecture: string, classNames: string | string[], builder: ParityBuilder, opts: { module?: RegExp } = {}): void {
  for (const c of Array.isArray(classNames) ? classNames : [classNames]) {
    const key = keyOf(architecture, c);
    const list = (builders.get(key) ?? []).filter((r) => String(r.module) !== String(opts.module));
    // Module-specific builders are tried before catch-all ones.
    list.push({ builder, module: opts.module });
    list.sort((a, b) => Number(!a.module) - Number(!b.module));
    builders.set(key, list);
  }
}

/** The builder for a class; with `module`, the first whose module pattern matches it (or a catch-all). */
export function findParityBuilder(architecture: string, className: string, module?: string): ParityBuilder | undefined {
  const list = builders.get(keyOf(architecture, className));
  if (!list) return undefined;
  if (module === undefined) return list[0]?.builder;
  return list.find((r) => !r.module || r.module.test(module))?.builder;
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

/** eps of a norm_layer kwarg such as "partial(nn.LayerNorm, eps=1e-6)"; `dflt` for a bare class. */
export function normLayerEps(spec: unknown, dflt: number): number {
  if (spec === undefined || spec === null) return dflt;
  const m = /eps\s*=\s*([0-9.eE+-]+)/.exec(String(spec));
  return m ? Number(m[1]) : dflt;
}
