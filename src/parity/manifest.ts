/** The parity manifest (`vizoo-parity/1`; test/fixtures/README.md, docs/architecture.md#parity-runner-and-fixtures). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TensorSpec {
  name: string;
  shape: number[];
  layout: string;
}

export interface ParityCase {
  case: string;
  file: string;
  kind: 'module' | 'function';
  class: string;
  module?: string;
  architecture: string;
  kwargs: Record<string, unknown>;
  forward_kwargs?: Record<string, unknown>;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  mode?: string;
  tolerance_max_abs: number;
  reference?: string;
  [extra: string]: unknown;
}

export interface ParityManifest {
  schema?: string;
  family?: string;
  cases: ParityCase[];
}

export function readManifest(dir: string): ParityManifest {
  const path = join(dir, 'manifest.json');
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${path}: cannot read parity manifest (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let m: ParityManifest;
  try {
    m = JSON.parse(raw) as ParityManifest;
  } catch (e) {
    throw new Error(`${path}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(m.cases)) throw new Error(`${path}: no "cases" list`);
  for (const c of m.cases) {
    for (const f of ['case', 'file', 'class', 'architecture'] as const) {
      if (typeof c[f] !== 'string') throw new Error(`${path}: a case lacks the string field "${f}"`);
    }
    if (typeof c.tolerance_max_abs !== 'number') throw new Error(`${path}: case ${c.case} lacks tolerance_max_abs`);
    // Some manifests name the forward arguments (H, W, ...) `forward_args`.
    if (c.forward_kwargs === undefined && c.forward_args !== null && typeof c.forward_args === 'object') c.forward_kwargs = c.forward_args as Record<string, unknown>;
  }
  return m;
}

/** The tensor key of an input/output spec: its name up to the first space ("__input__ (query)" -> "__input__"). */
export function tensorKey(spec: TensorSpec): string {
  return spec.name.trim().split(/\s+/)[0]!;
}

/** Layouts that vizoo holds as NHWC: convert on the way in and out. */
export function isNchw(layout: string): boolean {
  return /^NCHW\b/.test(layout.trim());
}
