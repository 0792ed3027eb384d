import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
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

const FS_PROBLEMS: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'is a directory, not a file',
  ENOTDIR: 'a part of the path is not a directory',
  ELOOP: 'too many symbolic links',
  ENAMETOOLONG: 'path too long',
  EMFILE: 'too many open files',
  EIO: 'input/output error',
};

/** A file-system error in words ('no such file', 'permission denied', ...), for messages that name the file. */
export function fsProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  return (code && FS_PROBLEMS[code]) ?? `cannot be read (${code ?? 'unknown error'})`;
}

/** A file open for reading by position: its size, `read(offset, length)` within it, `close()`. */
export interface OpenFile {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
  close(): void;
}

/**
 * Opens `path` for reading when it is a regular file (not a directory, device or FIFO: it is opened
 * non-blocking, so a FIFO cannot hang the caller). `fail` turns a problem into the caller's error type.
 */
export function openRegularFile(path: string, fail: (problem: string, cause?: unknown) => never): OpenFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (e) {
    return fail(fsProblem(e), e);
  }
  let size = 0;
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) fail(st.isDirectory() ? 'is a directory, not a file' : 'is not a regular file (a device, FIFO or socket)');
    size = st.size;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return {
    size,
    read(offset, length) {
      const out = new Uint8Array(length);
      let done = 0;
      try {
        while (done < length) {
          const n = readSync(fd, out, done, Math.min(length - done, 1 << 30), offset + done);
          if (n === 0) fail(`ends at byte ${offset + done}, before the ${size} bytes it had when opened (changed while being read?)`);
          done += n;
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException)?.code) fail(fsProblem(e), e);
        throw e;
      }
      return out;
    },
    close: () => closeSync(fd),
  };
}

/** The whole content of a regular file (see openRegularFile). */
export function readRegularFile(path: string, fail: (problem: string, cause?: unknown) => never): Uint8Array {
  const f = openRegularFile(path, fail);
  try {
    return f.read(0, f.size);
  } finally {
    f.close();
  }
}
