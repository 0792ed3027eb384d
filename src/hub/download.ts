/**
 * Weight downloads into the cache ($VIZOO_CACHE/hub): HTTP(S) with redirects, a progress bar, resume of an
 * interrupted transfer with a Range request from a `.partial` file kept outside the final path, sha256
 * verification when the hash is known, and an atomic rename. Only complete, verified files ever appear
 * under their final names; a file that fails its checksum is discarded. Offline ($VIZOO_OFFLINE=1), only
 * the cache answers.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';
import { cacheDir, sha256File } from './cache.js';
import { hfUrl, parseHfSpec } from './sources.js';
import { atomicWriteFile } from '../util/fs.js';
import { ProgressBar } from '../util/progress.js';

export class DownloadError extends Error {
  constructor(
    readonly url: string,
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

export class ChecksumError extends DownloadError {
  constructor(url: string, readonly expected: string, readonly actual: string) {
    super(url, `${url}: sha256 mismatch: expected ${expected}, got ${actual}; the download was discarded`);
    this.name = 'ChecksumError';
  }
}

export interface DownloadOptions {
  /** Expected sha256 (hex); the file is discarded when it differs. */
  sha256?: string;
  /** Cache root (default $VIZOO_CACHE or ~/.cache/vizoo). */
  cacheRoot?: string;
  /** Use only the cache (default: $VIZOO_OFFLINE is set). */
  offline?: boolean;
  /** Progress bar on stderr (default: when stderr is a terminal). */
  progress?: boolean;
  onProgress?: (done: number, total: number | null) => void;
  /** Name of the file in the cache (default: the URL's last path segment). */
  fileName?: string;
}

function hubDir(o: DownloadOptions, ...sub: string[]): string {
  if (o.cacheRoot) {
    const d = join(o.cacheRoot, ...sub);
    mkdirSync(d, { recursive: true });
    return d;
  }
  return cacheDir(...sub);
}

/** Where a URL lives in the cache: hub/<host>/<hash of the URL>/<file name>. */
export function cachedPath(url: string, o: DownloadOptions = {}): string {
  const u = new URL(url);
  const key = createHash('sha256').update(url).digest('hex').slice(0, 16);
  const name = o.fileName ?? (decodeURIComponent(basename(u.pathname)) || 'download');
  return join(hubDir(o, 'hub', u.host.replace(/[^A-Za-z0-9.-]/g, '_'), key), name);
}

const offlineDefault = () => Boolean(process.env.VIZOO_OFFLINE && process.env.VIZOO_OFFLINE !== '0');

/** The sha256 recorded when a cached file was verified (its sidecar), or null. */
function recordedHash(path: string): string | null {
  try {
    return readFileSync(`${path}.sha256`, 'utf8').trim();
  } catch {
    return null;
  }
}

function mb(n: number): string {
  return (n / 1048576).toFixed(1);
}

/**
 * Downloads `url` into the cache (or finds it there) and returns the local path. A transfer cut off
 * midway leaves its `.partial` file, and the next call resumes it with an HTTP Range request.
 */
export async function download(url: string, o: DownloadOptions = {}): Promise<string> {
  const final = cachedPath(url, o);
  const want = o.sha256?.toLowerCase();
  if (existsSync(final)) {
    const have = recordedHash(final) ?? sha256File(final);
    if (!want || have === want) return final;
    if (o.offline ?? offlineDefault()) throw new ChecksumError(url, want, have);
    rmSync(final, { force: true });
    rmSync(`${final}.sha256`, { force: true });
  }
  if (o.offline ?? offlineDefault()) throw new DownloadError(url, `${url} is not in the cache (${final}) and vizoo is offline (VIZOO_OFFLINE)`);
  const partialDir = hubDir(o, 'partial');
  const partial = join(partialDir, `${basename(final)}.${createHash('sha256').update(url).digest('hex').slice(0, 16)}.partial`);
  const lock = `${partial}.lock`;
  let lockFd: number;
  try {
    lockFd = openSync(lock, 'wx');
  } catch {
    // A lock left by a process that died is taken over; a live one means a concurrent download.
    const pid = Number(readFileSync(lock, 'utf8').trim());
    let alive = false;
    try {
      alive = pid > 0 && pid !== process.pid && process.kill(pid, 0);
    } catch {
      alive = false;
    }
    if (alive) throw new DownloadError(url, `${url} is being downloaded by another vizoo process (pid ${pid})`);
    rmSync(lock, { force: true });
    lockFd = openSync(lock, 'wx');
  }
  writeSync(lockFd, String(process.pid));
  closeSync(lockFd);
  try {
    await fetchToPartial(url, partial, o);
    const actual = sha256File(partial);
    if (want && actual !== want) {
      rmSync(partial, { force: true });
      throw new ChecksumError(url, want, actual);
    }
    renameSync(partial, final);
    atomicWriteFile(`${final}.sha256`, `${actual}\n`);
    return final;
  } finally {
    rmSync(lock, { force: true });
  }
}

async function fetchToPartial(url: string, partial: string, o: DownloadOptions): Promise<void> {
  let have = existsSync(partial) ? statSync(partial).size : 0;
  const headers: Record<string, string> = { 'user-agent': 'vizoo' };
  if (have > 0) headers.range = `bytes=${have}-`;
  let res: Response;
  try {
    res = await fetch(url, { headers, redirect: 'follow' });
  } catch (e) {
    throw new DownloadError(url, `${url}: cannot connect (${(e as Error).cause ? String(((e as Error).cause as Error).message ?? (e as Error).cause) : (e as Error).message})`);
  }
  if (res.status === 416 && have > 0) {
    // The partial file does not fit the server's copy (changed upstream?): start over.
    await res.body?.cancel();
    rmSync(partial, { force: true });
    return fetchToPartial(url, partial, o);
  }
  if (!res.ok) {
    await res.body?.cancel();
    throw new DownloadError(url, `${url}: HTTP ${res.status} ${res.statusText}`.trim(), res.status);
  }
  let total: number | null = null;
  if (res.status === 206) {
    const m = /\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '');
    const start = /bytes\s+(\d+)-/.exec(res.headers.get('content-range') ?? '');
    if (!start || Number(start[1]) !== have) {
      await res.body?.cancel();
      rmSync(partial, { force: true });
      throw new DownloadError(url, `${url}: the server resumed at the wrong offset; the partial download was discarded, run again`);
    }
    total = m ? Number(m[1]) : null;
  } else {
    have = 0; // the server ignored the Range request: the body is the whole file
    const len = res.headers.get('content-length');
    total = len !== null ? Number(len) : null;
  }
  const fd = openSync(partial, have > 0 ? 'a' : 'w');
  const show = o.progress ?? Boolean(process.stderr.isTTY);
  const bar = show && total ? new ProgressBar({ total, label: `download ${basename(new URL(url).pathname)}`, force: true }) : null;
  let done = have;
  try {
    if (res.body) {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        let off = 0;
        while (off < chunk.byteLength) off += writeSync(fd, chunk, off, chunk.byteLength - off);
        done += chunk.byteLength;
        bar?.update(done, `${mb(done)}/${mb(total!)} MB`);
        o.onProgress?.(done, total);
      }
    }
    fsyncSync(fd);
  } catch (e) {
    throw new DownloadError(url, `${url}: transfer interrupted after ${done} bytes (${(e as Error).message}); run again to resume`);
  } finally {
    closeSync(fd);
    bar?.finish();
  }
  if (total !== null && done !== total) {
    throw new DownloadError(url, `${url}: transfer ended after ${done} of ${total} bytes; run again to resume`);
  }
}

/**
 * Resolves a weights spec to a local file: a path as is; `https://...` / `http://...` downloaded into the
 * cache; `hf:org/repo[/file]` from the HuggingFace hub (default file: model.safetensors, then
 * pytorch_model.bin).
 */
export async function resolveWeights(spec: string, o: DownloadOptions = {}): Promise<string> {
  if (/^https?:\/\//i.test(spec)) return download(spec, o);
  if (spec.startsWith('hf:')) {
    const { repo, file } = parseHfSpec(spec);
    const url = (f: string) => hfUrl(spec, process.env.VIZOO_HF_ENDPOINT, f);
    if (file) return download(url(file), o);
    let last: unknown;
    for (const f of ['model.safetensors', 'pytorch_model.bin']) {
      try {
        return await download(url(f), o);
      } catch (e) {
        last = e;
        if (!(e instanceof DownloadError) || (e.status !== 404 && !/not in the cache/.test(e.message))) throw e;
      }
    }
    throw new Error(`${spec}: neither model.safetensors nor pytorch_model.bin was found (${(last as Error).message}); name the file: hf:${repo}/<file>`);
  }
  return spec;
}
