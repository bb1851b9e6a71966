import {
  chmodSync, closeSync, fchmodSync, fchownSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { NatnsError } from '../domain/errors.js';

/**
 * natns's state is root's alone: folders 0700, files 0600 (README, "State files"). The one
 * exception, dnsmasq's folder, passes its own modes.
 */
export const PRIVATE_DIR = 0o700;
export const PRIVATE_FILE = 0o600;

export interface WriteOptions {
  /** Set with fchmod, so the process umask (libvirtd's, say) never changes it. */
  mode?: number;
  /** Group of the file (for dnsmasq's hosts file); root's own group when absent. */
  gid?: number;
  /** fsync the file and its folder. */
  durable?: boolean;
}

/** One line that names the file, for the admin: a full or read-only disk must never read as "EIO". */
export function writeError(path: string, err: unknown): NatnsError {
  if (err instanceof NatnsError) return err;
  const e = err as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    ENOSPC: 'no space left on the state filesystem',
    EDQUOT: 'disk quota exceeded on the state filesystem',
    EROFS: 'the state filesystem is read-only',
    EACCES: 'permission denied',
    EPERM: 'permission denied',
  };
  return new NatnsError(`cannot write ${path}: ${(e.code && why[e.code]) ?? e.message}`, { cause: err });
}

/** Create a folder and any missing parents with `mode`, whatever the umask; an existing one is left as it is. */
export function ensureDir(dir: string, mode = PRIVATE_DIR): void {
  try {
    const first = mkdirSync(dir, { recursive: true, mode });
    if (first === undefined) return;
    for (let d = dir; ; d = dirname(d)) {
      chmodSync(d, mode);
      if (d === first || d === dirname(d)) break;
    }
  } catch (err) {
    throw writeError(dir, err);
  }
}

let tmpCounter = 0;

/**
 * The content of `path` in a temp file beside it, complete (and fsynced if durable) before it
 * gets any name a reader looks at. On any failure the temp file is gone again.
 */
function writeTemp(path: string, data: string, o: WriteOptions): string {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${tmpCounter++}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, 'w', o.mode ?? PRIVATE_FILE);
    const buf = Buffer.from(data);
    // writeSync may write less than asked (a filesystem that fills up mid-write): loop.
    for (let off = 0; off < buf.length;) off += writeSync(fd, buf, off, buf.length - off);
    fchmodSync(fd, o.mode ?? PRIVATE_FILE);
    if (o.gid !== undefined) fchownSync(fd, process.getuid?.() ?? 0, o.gid);
    if (o.durable ?? true) fsyncSync(fd);
    const closing = fd;
    fd = undefined;
    closeSync(closing);
    return tmp;
  } catch (err) {
    if (fd !== undefined) {
      try {
        closeSync(fd);
      } catch {
        // The write's own error is the one to report.
      }
    }
    rmSync(tmp, { force: true });
    throw writeError(path, err);
  }
}

function fsyncDir(dir: string): void {
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

/**
 * Write-to-temp, fsync, rename, fsync the directory: a crash or a full disk leaves the old file
 * or the new, never half, and no temp file. `durable: false` skips the fsyncs, for facts that a
 * power loss makes moot anyway (which phase a router is in: after a power loss there is no
 * router); the rename still keeps it whole.
 */
export function writeFileAtomic(path: string, data: string, o: WriteOptions = {}): void {
  const dir = dirname(path);
  ensureDir(dir);
  const tmp = writeTemp(path, data, o);
  try {
    renameSync(tmp, path);
    if (o.durable ?? true) fsyncDir(dir);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw writeError(path, err);
  }
}

/**
 * Create `path` holding `data`, unless the name is taken (then false). The content is written
 * to a temp file first and link()ed into place, which fails with EEXIST when the name exists:
 * as exclusive as O_EXCL, but `path` never exists empty or half written, whatever the disk does.
 */
export function createExclusive(path: string, data: string, o: WriteOptions = {}): boolean {
  const dir = dirname(path);
  ensureDir(dir);
  const tmp = writeTemp(path, data, o);
  try {
    linkSync(tmp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw writeError(path, err);
  } finally {
    rmSync(tmp, { force: true });
  }
  if (o.durable ?? true) {
    try {
      fsyncDir(dir);
    } catch (err) {
      throw writeError(path, err);
    }
  }
  return true;
}

/** What reading a state file gave: its content, nothing (no such file), or why it is unusable. */
export type ReadResult<T> = { value: T } | { absent: true } | { problem: string };

/** Read a JSON state file; `valid` rejects a document of the wrong shape. Never throws. */
export function readJsonFile<T>(path: string, valid: (v: unknown) => boolean = () => true): ReadResult<T> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { absent: true };
    return { problem: `cannot be read (${code ?? (err as Error).message})` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problem: text.trim() === '' ? 'empty, not valid JSON' : 'not valid JSON (truncated?)' };
  }
  return valid(value) ? { value: value as T } : { problem: 'valid JSON but not what natns keeps there' };
}

/** Rename a bad file to PATH.corrupt-STAMP in the same folder, kept for the admin; returns the new path. */
export function moveAside(path: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '');
  const aside = `${path}.corrupt-${stamp}`;
  renameSync(path, aside);
  return aside;
}
