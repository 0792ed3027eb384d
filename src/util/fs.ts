import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Writes `chunks` to `path` atomically: a temp file beside it, fsync, then rename. A crash mid-write
 * leaves the previous file intact (or no file), never a truncated one.
 */
export function atomicWriteFile(path: string, chunks: Uint8Array | Uint8Array[] | string): void {
  const parts: Uint8Array[] = typeof chunks === 'string' ? [new TextEncoder().encode(chunks)] : Array.isArray(chunks) ? chunks : [chunks];
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    for (const p of parts) {
      let off = 0;
      while (off < p.byteLength) off += writeSync(fd, p as NodeJS.ArrayBufferView, off, p.byteLength - off);
    }
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
