/**
 * `vizoo serve`: the browser demo (examples/browser, built into dist/demo) over HTTP, with what it needs
 * beside the page: tfjs's wasm binaries, the shipped weights and the sample images. The page is
 * cross-origin isolated (COOP/COEP), so tfjs-wasm can use threads. Only files under those folders are
 * served; anything else is a 404.
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { packageRoot } from './util/package_root.js';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.svg': 'image/svg+xml',
  '.safetensors': 'application/octet-stream',
};

export interface DemoServer {
  url: string;
  close(): Promise<void>;
}

/** URL prefix -> folder. */
function mounts(): [string, string][] {
  const root = packageRoot();
  const wasmDir = dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm'));
  return [
    ['/wasm/', wasmDir],
    ['/weights/', join(root, 'weights')],
    ['/samples/', join(root, 'assets', 'samples')],
    ['/', join(root, 'dist', 'demo')],
  ];
}

/** The file a request path names, or null (outside every mounted folder, or not a file). */
function fileFor(path: string, table: [string, string][]): string | null {
  let p: string;
  try {
    p = decodeURIComponent(path.split('?')[0]!);
  } catch {
    return null;
  }
  if (p.includes('\0') || p.split('/').includes('..')) return null;
  if (p === '/') p = '/index.html';
  for (const [prefix, dir] of table) {
    if (!p.startsWith(prefix)) continue;
    const file = resolve(dir, p.slice(prefix.length));
    if (!file.startsWith(resolve(dir) + sep)) return null;
    return existsSync(file) && statSync(file).isFile() ? file : null;
  }
  return null;
}

function send(res: ServerResponse, status: number, type: string, body?: string | Uint8Array): void {
  res.writeHead(status, { 'content-type': type, 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin', 'cache-control': 'no-cache' });
  res.end(body);
}

export interface DemoServerOptions {
  port?: number;
  host?: string;
  /** More pages served from memory beside the demo (e.g. a test's own bundle): path -> body (type from the extension). */
  pages?: Record<string, string | Uint8Array>;
}

export async function startDemoServer(opts: DemoServerOptions = {}): Promise<DemoServer> {
  const table = mounts();
  if (!existsSync(join(table.at(-1)![1], 'demo.js'))) throw new Error(`${table.at(-1)![1]}: the demo page is not built (npm run build)`);
  const weightsDir = table[1]![1];
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'method not allowed');
    const page = opts.pages?.[req.url?.split('?')[0] ?? ''];
    if (page !== undefined) return send(res, 200, TYPES[extname(req.url!.split('?')[0]!)] ?? 'application/octet-stream', page);
    if (req.url?.split('?')[0] === '/weights/index.json') {
      const names = existsSync(weightsDir) ? readdirSync(weightsDir).filter((f) => f.endsWith('.safetensors')).map((f) => f.slice(0, -12)) : [];
      return send(res, 200, TYPES['.json']!, JSON.stringify(names));
    }
    const file = fileFor(req.url ?? '/', table);
    if (!file) return send(res, 404, 'text/plain', 'not found');
    res.writeHead(200, {
      'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
      'content-length': statSync(file).size,
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-embedder-policy': 'require-corp',
      'cross-origin-resource-policy': 'same-origin',
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
  };
  const server = createServer(handle);
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 8080, opts.host ?? '127.0.0.1', () => ok());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  // A browser keeps its keep-alive sockets open; without dropping them, close() waits for their timeout.
  const close = () =>
    new Promise<void>((ok) => {
      server.close(() => ok());
      server.closeAllConnections();
    });
  return { url: `http://${host}:${port}/`, close };
}
