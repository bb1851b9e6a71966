import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, writeSync, readFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';

/**
 * Write-to-temp, fsync, rename, fsync the directory: a crash leaves the old file or the new, never
 * half. `durable: false` skips the fsyncs, for facts that a power loss makes moot anyway (which
 * phase a router is in: after a power loss there is no router); the rename still keeps it whole.
 */
export function writeFileAtomic(path: string, data: string, mode = 0o644, durable = true): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', mode);
  try {
    writeSync(fd, data);
    if (durable) fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  if (!durable) return;
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export function readJsonIfExists<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
