// The packed tarball installed offline into a new app: what is in it, what it pulls in, and that the README's
// quick start, its API snippet (type-checked strictly, without skipLibCheck) and the CLI work there.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type PackedApp, folderBytes, packAndInstall } from '../helpers/pack.js';
import { ROOT } from '../paths.js';

let packed: PackedApp;

beforeAll(() => {
  packed = packAndInstall();
  copyFileSync(join(ROOT, 'assets', 'samples', 'ankle_boot.png'), join(packed.app, 'boot.png'));
}, 300_000);

function npx(args: string[]) {
  return spawnSync('npx', ['--no-install', 'vizoo', ...args], { cwd: packed.app, encoding: 'utf8', env: { ...process.env, VIZOO_BACKEND: 'auto' } });
}

/** The TypeScript block under the README's "## API" heading. */
function readmeApiSnippet(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const m = /## API\n\n```ts\n([\s\S]*?)```/.exec(readme);
  if (!m) throw new Error('README.md has no ```ts block under ## API');
  return m[1]!;
}

describe('the packed package in a new app, installed offline', () => {
  it('ships the library, CLI, weights and self-test cases but no test data, and stays small', () => {
    const files = execFileSync('tar', ['tzf', packed.tarball], { encoding: 'utf8' }).split('\n');
    for (const f of ['package/dist/src/index.js', 'package/dist/cli/main.js', 'package/dist/vendor/tfjs-gradients.cjs', 'package/weights/van_fmnist.safetensors', 'package/assets/selftest/large_kernel/manifest.json']) {
      expect(files).toContain(f);
    }
    expect(files.filter((f) => /^package\/(test|src|bench|scripts)\/|^package\/dist\/(test|bench)\//.test(f))).toEqual([]);
    const modules = join(packed.app, 'node_modules');
    for (const optional of ['onnxruntime-node', 'webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs', '@tensorflow/tfjs-layers']) {
      expect(existsSync(join(modules, optional))).toBe(false);
    }
    expect(folderBytes(modules)).toBeLessThan(300e6);
  });

  it('runs the quick start: npx vizoo classify prints Ankle boot first', () => {
    const r = npx(['classify', 'boot.png', '--top', '2']);
    expect(r.stderr).toBe('');
    expect(r.stdout.split('\n')[1]).toMatch(/%\s+Ankle boot \(9\)$/);
    expect(npx(['--version']).stdout.trim()).toBe(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version);
  });

  it('type-checks the README API snippet strictly (no skipLibCheck) and runs it', () => {
    writeFileSync(join(packed.app, 'snippet.ts'), readmeApiSnippet());
    const tsconfig = { compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', outDir: 'out' }, files: ['snippet.ts'] };
    writeFileSync(join(packed.app, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: packed.app, encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    const run = spawnSync(process.execPath, ['out/snippet.js'], { cwd: packed.app, encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.stdout.trim()).toBe('wasm Ankle boot');
    expect(run.status).toBe(0);
  });

  it('certifies the install with the shipped self-test cases', () => {
    const r = npx(['selftest', '--family', 'VAN,NAT/DiNAT']);
    expect(r.stdout).toMatch(/selftest: 2\/2 families pass on wasm/);
    expect(r.status).toBe(0);
  });

  it('names the optional package a feature needs when it is not installed', () => {
    const r = npx(['classify', 'boot.png', '--runtime', 'ort']);
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/needs the package 'onnxruntime-node', which is not installed: npm install onnxruntime-node/);
  });
});
