// `vizoo/browser` must not reach a Node module: its whole import graph (vizoo's files and every package
// they pull in) is walked by bundling it for the browser, and each vizoo file is checked for Node imports.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../paths.js';

const ENTRY = join(ROOT, 'dist', 'src', 'browser', 'index.js');
const NODE_ONLY = /^(node:|sharp$|onnxruntime-node$|webgpu$|@tensorflow\/tfjs-node)|^(fs|path|os|crypto|child_process|http|https|url|zlib|module|worker_threads)$/;

describe('the browser entry', () => {
  it('bundles for the browser with no Node module anywhere in its import graph', async () => {
    const r = await build({ entryPoints: [ENTRY], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent' });
    expect(r.errors).toEqual([]);
    const inputs = Object.keys(r.metafile.inputs);
    expect(inputs.some((f) => f.includes('dist/src/models/van.js'))).toBe(true);
    expect(inputs.filter((f) => /node_modules\/(sharp|onnxruntime-node|webgpu|@img)\//.test(f))).toEqual([]);
    const offenders: string[] = [];
    for (const f of inputs.filter((f) => f.includes('dist/src/'))) {
      for (const imp of r.metafile.inputs[f]!.imports) if (NODE_ONLY.test(imp.original ?? imp.path)) offenders.push(`${f} imports ${imp.original ?? imp.path}`);
    }
    expect(offenders).toEqual([]);
  });

  it('keeps every vizoo module it reaches free of Node imports, dynamic ones included', async () => {
    const r = await build({ entryPoints: [ENTRY], bundle: true, platform: 'browser', format: 'esm', write: false, metafile: true, logLevel: 'silent' });
    const own = Object.keys(r.metafile.inputs).filter((f) => f.includes('dist/src/'));
    const offenders = own.filter((f) => /\bfrom ['"]node:|import\(['"]node:|\bprocess\.(env|exit|stdout|stderr)/.test(readFileSync(join(process.cwd(), f), 'utf8'))).map((f) => relative(ROOT, f));
    expect(offenders).toEqual([]);
  });
});
