/** vizoo's cache directory (downloads, ONNX exports): $VIZOO_CACHE, default ~/.cache/vizoo. */
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheDir(...sub: string[]): string {
  const root = process.env.VIZOO_CACHE || join(homedir(), '.cache', 'vizoo');
  const dir = join(root, ...sub);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** sha256 of a file, hex (read in 4 MiB chunks). */
export function sha256File(path: string): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}
