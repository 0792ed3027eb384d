/**
 * The parity runner: builds each case's official class from its kwargs, loads the case's weights
 * (strict), runs the inputs, and compares every listed output with the official one.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tf, type Tensor } from '../tf.js';
import { readSafetensors } from '../hub/weight_files.js';
import { type HostTensor, type StateDict, toFloat32 } from '../hub/host_tensor.js';
import { writeSafetensors } from '../hub/weight_files.js';
import { nchwToNhwc, nhwcToNchw } from '../nn/functional.js';
import { type ParityCase, isNchw, readManifest, tensorKey } from './manifest.js';
import { globToRegExp } from '../models/names.js';
import { findParityBuilder } from './registry.js';
import './builders/index.js';

export type ParityStatus = 'pass' | 'fail' | 'error' | 'unsupported';

export interface ParityResult {
  case: string;
  class: string;
  architecture: string;
  status: ParityStatus;
  /** Max |ours - official| over all elements of all outputs (NaN when not computed). */
  maxAbsDiff: number;
  tolerance: number;
  /** Per output: name and max abs diff. */
  outputs: { name: string; maxAbsDiff: number }[];
  message?: string;
  seconds: number;
}

export function selectCases(cases: ParityCase[], patterns?: string): ParityCase[] {
  if (!patterns) return cases;
  const res = patterns.split(',').map((p) => globToRegExp(p.trim(), ''));
  return cases.filter((c) => res.some((r) => r.test(c.case)));
}

function toTensor(h: HostTensor): Tensor {
  return tf.tensor(toFloat32(h), h.shape, 'float32');
}

/** Maps whatever the target returned onto the manifest's output names. */
function nameOutputs(c: ParityCase, out: Tensor | Tensor[] | Record<string, Tensor>): Map<string, Tensor> {
  const named = new Map<string, Tensor>();
  if (out instanceof tf.Tensor) named.set('__output__', out);
  else if (Array.isArray(out)) out.forEach((t, i) => named.set(i === 0 ? '__output__' : `__output_${i}__`, t));
  else for (const [k, v] of Object.entries(out)) named.set(k, v);
  const want = c.outputs.map(tensorKey);
  const missing = want.filter((w) => !named.has(w));
  if (missing.length) throw new Error(`the module returned ${[...named.keys()].join(', ')} but the case lists ${want.join(', ')}`);
  return named;
}

export interface RunOptions {
  /** Write each case's outputs (fixture names and layouts) to <dump>/<case>.safetensors. */
  dump?: string;
}

export async function runParityCase(dir: string, c: ParityCase, opts: RunOptions = {}): Promise<ParityResult> {
  const t0 = performance.now();
  const base = { case: c.case, class: c.class, architecture: c.architecture, tolerance: c.tolerance_max_abs, outputs: [] as { name: string; maxAbsDiff: number }[] };
  const done = (status: ParityStatus, maxAbsDiff: number, message?: string): ParityResult => ({ ...base, status, maxAbsDiff, message, seconds: (performance.now() - t0) / 1000 });
  const builder = findParityBuilder(c.architecture, c.class, c.module);
  if (!builder) return done('unsupported', NaN, `class ${c.architecture}.${c.class} is not implemented in vizoo yet`);
  let file: StateDict;
  let fileLayout = '';
  try {
    const st = readSafetensors(join(dir, c.file));
    file = st.tensors;
    fileLayout = st.metadata.layout ?? '';
  } catch (e) {
    return done('error', NaN, (e as Error).message);
  }
  const weights: StateDict = new Map([...file].filter(([k]) => !k.startsWith('__')));
  let target;
  try {
    target = builder({ kwargs: c.kwargs ?? {}, forwardKwargs: c.forward_kwargs ?? {}, parityCase: c });
    if (target.module) {
      target.module.loadStateDict(weights, { strict: true });
      target.module.eval();
    }
  } catch (e) {
    return done('error', NaN, `cannot build ${c.class}: ${(e as Error).message}`);
  }
  try {
    const inputs = c.inputs.map((spec) => {
      const h = file.get(tensorKey(spec));
      if (!h) throw new Error(`fixture has no tensor ${tensorKey(spec)}`);
      return tf.tidy(() => (isNchw(spec.layout) ? nchwToNhwc(toTensor(h)) : toTensor(h)));
    });
    const produced = nameOutputs(c, target.run(inputs));
    let worst = 0;
    const problems: string[] = [];
    const dumped: StateDict = new Map();
    for (const spec of c.outputs) {
      const key = tensorKey(spec);
      const ref = file.get(key);
      // An output listed without a layout (an alias such as __output__ of a multi-output case) has the file's.
      const layout = spec.layout?.trim() ? spec.layout : fileLayout;
      const ours = tf.tidy(() => (isNchw(layout) ? nhwcToNchw(produced.get(key)!) : produced.get(key)!.clone()));
      const oursData = (await ours.data()) as Float32Array;
      if (opts.dump) dumped.set(key, { dtype: 'F32', shape: [...ours.shape], data: new Float32Array(oursData) });
      if (!ref) {
        problems.push(`fixture has no tensor ${key}`);
        ours.dispose();
        continue;
      }
      if (ours.shape.length !== ref.shape.length || ours.shape.some((d, i) => d !== ref.shape[i])) {
        problems.push(`${key}: shape [${ours.shape}] but official [${ref.shape}]`);
        ours.dispose();
        continue;
      }
      const refData = toFloat32(ref);
      let m = 0;
      for (let i = 0; i < refData.length; i++) {
        const d = Math.abs(oursData[i]! - refData[i]!);
        if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
      }
      base.outputs.push({ name: key, maxAbsDiff: m });
      worst = Math.max(worst, m);
      ours.dispose();
    }
    for (const t of new Set([...inputs, ...produced.values()])) t.dispose();
    if (opts.dump) {
      mkdirSync(opts.dump, { recursive: true });
      writeSafetensors(join(opts.dump, `${c.case}.safetensors`), dumped);
    }
    target.module?.dispose();
    if (problems.length) return done('fail', worst, problems.join('; '));
    return done(worst <= c.tolerance_max_abs ? 'pass' : 'fail', worst);
  } catch (e) {
    target.module?.dispose();
    return done('error', NaN, `forward failed: ${(e as Error).message}`);
  }
}

export async function runParity(dir: string, patterns?: string, opts: RunOptions & { onResult?: (r: ParityResult) => void } = {}): Promise<ParityResult[]> {
  const manifest = readManifest(dir);
  const cases = selectCases(manifest.cases, patterns);
  const results: ParityResult[] = [];
  for (const c of cases) {
    const r = await runParityCase(dir, c, opts);
    opts.onResult?.(r);
    results.push(r);
  }
  return results;
}

export function formatResult(r: ParityResult): string {
  const diff = Number.isNaN(r.maxAbsDiff) ? '-' : r.maxAbsDiff.toExponential(2);
  const tag = r.status === 'pass' ? 'ok' : r.status.toUpperCase();
  return `${r.case.padEnd(34)} ${tag.padEnd(11)} max|diff| ${diff.padEnd(9)} tol ${r.tolerance.toExponential(1)}${r.message ? `  ${r.message}` : ''}`;
}
