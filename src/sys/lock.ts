import { closeSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { NatnsError } from '../domain/errors.js';

/**
 * An exclusive lock file holding the owner's pid. A lock whose owner died (killed hook, reboot)
 * is taken over instead of blocking every later start.
 */
export async function withLock<T>(file: string, fn: () => Promise<T>, timeoutMs = 60_000, timedOut?: (owner: number | undefined) => Error): Promise<T> {
  await acquire(file, timeoutMs, timedOut);
  try {
    return await fn();
  } finally {
    try {
      unlinkSync(file);
    } catch {
      // Already gone: a stale-lock takeover by someone who misjudged us is the only way; nothing to undo.
    }
  }
}

async function acquire(file: string, timeoutMs: number, timedOut?: (owner: number | undefined) => Error): Promise<void> {
  // 0755: dnsmasq, running as nobody, must traverse the state dir this may create.
  mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = readOwner(file);
    if (owner !== undefined && !isAlive(owner)) {
      takeOverStale(file, owner);
      continue;
    }
    if (Date.now() > deadline) {
      if (timedOut) throw timedOut(owner);
      throw new NatnsError(`timed out after ${timeoutMs} ms waiting for ${file}, held by pid ${owner ?? 'unknown'}`);
    }
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    delay = Math.min(delay * 2, 50);
  }
}

function readOwner(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Rename first so that of several waiters only one removes the stale file. */
function takeOverStale(file: string, owner: number): void {
  const aside = `${file}.stale.${process.pid}`;
  try {
    renameSync(file, aside);
  } catch {
    return;
  }
  if (readOwner(aside) !== owner) {
    // Someone took the lock between our read and our rename: give it back.
    try {
      renameSync(aside, file);
    } catch {
      // The file moved again; the next loop iteration sorts it out.
    }
    return;
  }
  unlinkSync(aside);
}
