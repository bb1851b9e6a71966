import { linkSync, readFileSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { NatnsError } from '../domain/errors.js';
import { createExclusive, ensureDir } from './files.js';

/**
 * A lock file that names no live holder is taken over after this long. natns writes the pid
 * before the lock file gets its name (createExclusive), so its own locks are never empty; an
 * older natns, during an upgrade, created the file and then wrote the pid, which this covers.
 */
const OWNERLESS_GRACE_MS = 2000;

/**
 * An exclusive lock file holding the owner's pid and the kernel's boot id. A lock never outlives
 * its holder: one whose owner died (killed hook), that was taken before the last boot (its pid
 * may be any process now), or that names no pid at all (left empty by an older natns on a full
 * disk) is taken over instead of blocking every later start.
 */
export async function withLock<T>(file: string, fn: () => Promise<T>, timeoutMs = 60_000, timedOut?: (owner: number | undefined) => Error): Promise<T> {
  const mine = await acquire(file, timeoutMs, timedOut);
  try {
    return await fn();
  } finally {
    release(file, mine);
  }
}

/**
 * A lock file's identity. Inode numbers are reused as soon as a file is removed, so the content
 * counts too: a lock's content never changes, and no two holders write the same.
 */
interface Identity {
  ino: number;
  text: string;
}

function identity(file: string): Identity | undefined {
  try {
    return { ino: statSync(file).ino, text: readFileSync(file, 'utf8') };
  } catch {
    return undefined;
  }
}

const same = (a: Identity | undefined, b: Identity) => a !== undefined && a.ino === b.ino && a.text === b.text;

/** Remove the lock only if it is still ours: after a wrongful takeover the file is someone else's. */
function release(file: string, mine: Identity): void {
  try {
    if (same(identity(file), mine)) unlinkSync(file);
  } catch {
    // Already gone.
  }
}

let acquisitions = 0;

async function acquire(file: string, timeoutMs: number, timedOut?: (owner: number | undefined) => Error): Promise<Identity> {
  ensureDir(dirname(file));
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  // The sequence number tells apart two holders in one process (the agent serves hooks side by side).
  const text = `${process.pid} ${bootId()} ${++acquisitions}\n`;
  // When this waiter first saw the current ownerless lock file.
  let ownerless: { id: Identity; since: number } | undefined;
  for (;;) {
    // Throws a NatnsError naming the file when the disk is full: fail now, not after 60 s.
    if (createExclusive(file, text, { durable: false })) return { ino: statSync(file).ino, text };
    const lock = inspect(file);
    if (lock === undefined) continue;
    if (lock.owner === undefined) {
      if (!same(ownerless?.id, lock.id)) ownerless = { id: lock.id, since: Date.now() };
      // By the file's age, or by how long we have watched it (the clock may have jumped).
      if (Date.now() - lock.mtimeMs > OWNERLESS_GRACE_MS || Date.now() - ownerless!.since > OWNERLESS_GRACE_MS) {
        takeOverStale(file, lock.id);
        continue;
      }
    } else if (!isAlive(lock.owner) || (lock.boot !== undefined && lock.boot !== bootId())) {
      takeOverStale(file, lock.id);
      continue;
    }
    if (Date.now() > deadline) {
      if (timedOut) throw timedOut(lock.owner);
      throw new NatnsError(`timed out after ${timeoutMs} ms waiting for ${file}, held by pid ${lock.owner ?? 'unknown'}`);
    }
    await new Promise((r) => setTimeout(r, delay + Math.random() * delay));
    delay = Math.min(delay * 2, 50);
  }
}

/**
 * The lock file's inode, age, pid (undefined when it names none) and boot id (older natns wrote
 * the pid alone); undefined when the file is gone.
 */
function inspect(file: string): { id: Identity; mtimeMs: number; owner?: number; boot?: string } | undefined {
  try {
    const st = statSync(file);
    const text = readFileSync(file, 'utf8');
    const [pidText, boot] = text.trim().split(/\s+/);
    const pid = Number(pidText);
    return { id: { ino: st.ino, text }, mtimeMs: st.mtimeMs, ...(Number.isInteger(pid) && pid > 0 ? { owner: pid } : {}), ...(boot ? { boot } : {}) };
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

let boot: string | undefined;

/** Unique per boot, unlike pids (and unlike the clock, never steps). */
function bootId(): string {
  return (boot ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
}

/**
 * Rename first, so that of several waiters only one removes the stale file, then check that the
 * file moved is the one judged stale.
 */
function takeOverStale(file: string, stale: Identity): void {
  const aside = `${file}.stale.${process.pid}`;
  try {
    renameSync(file, aside);
  } catch {
    return;
  }
  try {
    if (!same(identity(aside), stale)) {
      // Someone took the lock between our look and our rename: give it back, unless the name
      // was taken again meanwhile (link, unlike rename, never replaces a file).
      linkSync(aside, file);
    }
  } catch {
    // The name was taken again; the holder we moved keeps running, as with any takeover race.
  }
  unlinkSync(aside);
}
