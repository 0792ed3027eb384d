// Hub downloads against a loopback HTTP server: normal, interrupted + resumed, wrong checksum, 404, redirect,
// offline use of the cache, hf: specs. The cache never holds a partial or unverified file under a final name.
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ChecksumError, DownloadError, cachedPath, download, resolveWeights } from '../../src/hub/download.js';

const BODY = Uint8Array.from({ length: 300_000 }, (_, i) => (i * 7 + (i >> 9)) & 0xff);
const SHA = createHash('sha256').update(BODY).digest('hex');

let server: Server;
let base = '';
/** Requests seen, with their Range header. */
const log: { url: string; range?: string }[] = [];
/** When set, the next full-body response is cut after this many bytes. */
let cutAfter: number | null = null;

function handler(req: IncomingMessage, res: ServerResponse): void {
  log.push({ url: req.url ?? '', range: req.headers.range });
  const url = req.url ?? '';
  if (url === '/redirect') {
    res.writeHead(302, { location: '/file.bin' });
    return void res.end();
  }
  if (url === '/hf/org/repo/resolve/main/model.safetensors') {
    res.writeHead(404);
    return void res.end('not found');
  }
  if (url !== '/file.bin' && url !== '/other.bin' && url !== '/hf/org/repo/resolve/main/pytorch_model.bin') {
    res.writeHead(404);
    return void res.end('not found');
  }
  const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
  const start = m ? Number(m[1]) : 0;
  if (start >= BODY.byteLength) {
    res.writeHead(416);
    return void res.end();
  }
  const part = BODY.subarray(start);
  res.writeHead(m ? 206 : 200, {
    'content-length': String(part.byteLength),
    ...(m ? { 'content-range': `bytes ${start}-${BODY.byteLength - 1}/${BODY.byteLength}` } : {}),
  });
  if (cutAfter !== null && !m) {
    // Send part of the body, then drop the connection.
    const n = cutAfter;
    cutAfter = null;
    res.write(part.subarray(0, n), () => setTimeout(() => res.destroy(), 20));
    return;
  }
  res.end(part);
}

let root = '';
beforeAll(async () => {
  server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'vizoo-hub-'));
  log.length = 0;
  cutAfter = null;
});

/** Every file under the cache root except the partial/ folder (which is not a final location). */
function finalFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) {
        if (e !== 'partial') walk(p);
      } else out.push(p);
    }
  };
  if (existsSync(root)) walk(root);
  return out;
}

describe('download', () => {
  it('downloads, verifies and caches; a second call uses the cache without a request', async () => {
    const p = await download(`${base}/file.bin`, { cacheRoot: root, sha256: SHA, progress: false });
    expect(Buffer.compare(readFileSync(p), Buffer.from(BODY))).toBe(0);
    expect(p).toBe(cachedPath(`${base}/file.bin`, { cacheRoot: root }));
    expect(log).toHaveLength(1);
    expect(await download(`${base}/file.bin`, { cacheRoot: root, sha256: SHA })).toBe(p);
    expect(log).toHaveLength(1);
  });

  it('resumes an interrupted transfer with a Range request; nothing lands in the cache until it is complete', async () => {
    cutAfter = 100_000;
    const url = `${base}/file.bin`;
    await expect(download(url, { cacheRoot: root, sha256: SHA, progress: false })).rejects.toThrow(/run again to resume/);
    expect(finalFiles()).toEqual([]);
    const partials = readdirSync(join(root, 'partial')).filter((f) => f.endsWith('.partial'));
    expect(partials).toHaveLength(1);
    const have = statSync(join(root, 'partial', partials[0]!)).size;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThan(BODY.byteLength);
    const p = await download(url, { cacheRoot: root, sha256: SHA, progress: false });
    expect(log.at(-1)!.range).toBe(`bytes=${have}-`);
    expect(Buffer.compare(readFileSync(p), Buffer.from(BODY))).toBe(0);
    expect(readdirSync(join(root, 'partial')).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('a wrong checksum discards the file with a clear error', async () => {
    const bad = '0'.repeat(64);
    const err = await download(`${base}/file.bin`, { cacheRoot: root, sha256: bad, progress: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChecksumError);
    expect((err as Error).message).toMatch(/sha256 mismatch: expected 0{64}, got [0-9a-f]{64}; the download was discarded/);
    expect(finalFiles()).toEqual([]);
    expect(readdirSync(join(root, 'partial')).filter((f) => f.endsWith('.partial'))).toEqual([]);
  });

  it('404 is an error naming the status, and leaves nothing behind', async () => {
    const err = await download(`${base}/missing.bin`, { cacheRoot: root, progress: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as DownloadError).status).toBe(404);
    expect((err as Error).message).toMatch(/HTTP 404/);
    expect(finalFiles()).toEqual([]);
  });

  it('follows redirects', async () => {
    const p = await download(`${base}/redirect`, { cacheRoot: root, sha256: SHA, progress: false, fileName: 'file.bin' });
    expect(Buffer.compare(readFileSync(p), Buffer.from(BODY))).toBe(0);
    expect(log.map((l) => l.url)).toEqual(['/redirect', '/file.bin']);
  });

  it('offline: the cache answers; a file not in it is a clear error, without a request', async () => {
    const p = await download(`${base}/file.bin`, { cacheRoot: root, sha256: SHA, progress: false });
    log.length = 0;
    expect(await download(`${base}/file.bin`, { cacheRoot: root, sha256: SHA, offline: true })).toBe(p);
    await expect(download(`${base}/other.bin`, { cacheRoot: root, offline: true })).rejects.toThrow(/not in the cache .* offline/);
    const prev = process.env.VIZOO_OFFLINE;
    process.env.VIZOO_OFFLINE = '1';
    try {
      await expect(download(`${base}/other.bin`, { cacheRoot: root })).rejects.toThrow(/offline/);
    } finally {
      if (prev === undefined) delete process.env.VIZOO_OFFLINE;
      else process.env.VIZOO_OFFLINE = prev;
    }
    expect(log).toHaveLength(0);
  });

  it('a cached file with another checksum than asked for is fetched again', async () => {
    await download(`${base}/file.bin`, { cacheRoot: root, progress: false });
    log.length = 0;
    await expect(download(`${base}/file.bin`, { cacheRoot: root, sha256: 'f'.repeat(64), offline: true })).rejects.toThrow(ChecksumError);
    await expect(download(`${base}/file.bin`, { cacheRoot: root, sha256: 'f'.repeat(64), progress: false })).rejects.toThrow(ChecksumError);
    expect(log).toHaveLength(1);
    expect(finalFiles()).toEqual([]);
  });

  it('hf:org/repo picks model.safetensors, else pytorch_model.bin; plain paths pass through', async () => {
    const prev = process.env.VIZOO_HF_ENDPOINT;
    process.env.VIZOO_HF_ENDPOINT = `${base}/hf`;
    try {
      const p = await resolveWeights('hf:org/repo', { cacheRoot: root, progress: false });
      expect(p.endsWith('pytorch_model.bin')).toBe(true);
      expect(Buffer.compare(readFileSync(p), Buffer.from(BODY))).toBe(0);
      await expect(resolveWeights('hf:org/repo/model.safetensors', { cacheRoot: root, progress: false })).rejects.toThrow(/404/);
    } finally {
      if (prev === undefined) delete process.env.VIZOO_HF_ENDPOINT;
      else process.env.VIZOO_HF_ENDPOINT = prev;
    }
    expect(await resolveWeights('/some/local/file.pth')).toBe('/some/local/file.pth');
  });
});
