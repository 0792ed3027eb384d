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

const keyOf = (architecture: string, className: string, module?: string) => `${architecture}::${className}${module === undefined ? '' : `@${module}`}`;

/**
 * Registers a builder for an official class. `opts.module` (the manifest's `module` field, e.g.
 * 'classification/models/blocks.py') narrows it to the cases of that source file: manifests whose
 * `architecture` is empty name different classes alike ('Block', 'PatchEmbed'), and the file tells them apart.
 */
export function registerParityBuilder(architecture: string, classNames: string | string[], builder: ParityBuilder, opts: { module?: string } = {}): void {
  for (const c of Array.isArray(classNames) ? classNames : [classNames]) builders.set(keyOf(architecture, c, opts.module), builder);
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

/** eps of a norm_layer kwarg such as "partial(nn.LayerNorm, eps=1e-6)"; `dflt` for a bare class. */
export function normLayerEps(spec: unknown, dflt: number): number {
  if (spec === undefined || spec === null) return dflt;
  const m = /eps\s*=\s*([0-9.eE+-]+)/.exec(String(spec));
  return m ? Number(m[1]) : dflt;
}
