/**
 * The package as a user gets it: `npm pack`, then a new app that installs the tarball with no network.
 * npm cannot resolve version ranges offline (it needs registry metadata), so the app gets a lockfile
 * pinned to the versions of this repository's own lockfile, whose tarballs `npm ci` left in npm's cache.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../paths.js';

interface LockEntry {
  version?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  dev?: boolean;
  devOptional?: boolean;
  [k: string]: unknown;
}

/** The lock location Node's resolution would pick for `name` required from `from`. */
function resolveIn(packages: Record<string, LockEntry>, from: string, name: string): string | null {
  let base = from;
  for (;;) {
    const key = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (packages[key]) return key;
    if (!base) return null;
    const i = base.lastIndexOf('/node_modules/');
    base = i < 0 ? '' : base.slice(0, i);
  }
}

/** Lock entries of everything `deps` needs at run time, from the repository's lockfile. */
function runtimeClosure(packages: Record<string, LockEntry>, deps: string[]): Record<string, LockEntry> {
  const keep = new Map<string, LockEntry>();
  const todo: [string, string][] = deps.map((d) => ['', d]);
  while (todo.length) {
    const [from, name] = todo.pop()!;
    const key = resolveIn(packages, from, name);
    if (!key || keep.has(key)) continue;
    const { dev: _dev, devOptional: _devOptional, ...entry } = packages[key]!;
    keep.set(key, entry);
    for (const d of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) todo.push([key, d]);
  }
  return Object.fromEntries([...keep].sort(([a], [b]) => a.localeCompare(b)));
}

export interface PackedApp {
  app: string;
  tarball: string;
}

/** Packs the built repository (no prepare: `npm test` has built it) and installs it offline into a new app. */
export function packAndInstall(): PackedApp {
  const app = mkdtempSync(join(tmpdir(), 'vizoo-app-'));
  const name = execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', app], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').at(-1)!;
  const tarball = join(app, name);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as Record<string, Record<string, string> & unknown>;
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const dependencies = { vizoo: `file:${name}` };
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'vizoo-consumer', version: '1.0.0', private: true, type: 'module', dependencies }, null, 2));
  const vizoo = {
    version: pkg.version,
    resolved: `file:${name}`,
    integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
    license: pkg.license,
    dependencies: pkg.dependencies,
    peerDependencies: pkg.peerDependencies,
    peerDependenciesMeta: pkg.peerDependenciesMeta,
    bin: pkg.bin,
    engines: pkg.engines,
  };
  const packages = {
    '': { name: 'vizoo-consumer', version: '1.0.0', dependencies },
    'node_modules/vizoo': vizoo,
    ...runtimeClosure(lock.packages, Object.keys(pkg.dependencies as Record<string, string>)),
  };
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'vizoo-consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2));
  execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: app, encoding: 'utf8', stdio: 'pipe' });
  return { app, tarball };
}

/** Bytes under a folder (files only, symlinks not followed), like `du -sb`. */
export function folderBytes(dir: string): number {
  return Number(execFileSync('du', ['-sb', dir], { encoding: 'utf8' }).split('\t')[0]);
}
