import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { paths } from '../sys/paths.js';

/** One line of natns's log (JSON lines written by the hooks and commands). */
export interface LogEntry {
  timestamp?: string;
  level?: string;
  message?: string;
  network?: string;
  networks?: string[];
  guest?: string;
  [key: string]: unknown;
}

export function logFile(): string {
  return join(paths.log(), 'natns.log');
}

/** Whether a log entry concerns `network`: its own events and errors, and guest events on it. */
export function concerns(entry: LogEntry, network: string | undefined): boolean {
  if (network === undefined) return true;
  return entry.network === network || (Array.isArray(entry.networks) && entry.networks.includes(network));
}

/** Entries of a chunk of the log; lines that are not JSON (none natns writes) are kept as messages. */
export function parseLog(text: string): LogEntry[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => {
    try {
      const v = JSON.parse(l) as unknown;
      return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as LogEntry : { message: l };
    } catch {
      return { message: l };
    }
  });
}

const SHOWN = new Set(['timestamp', 'level', 'message', 'network', 'pid', 'hook', 'cause']);

/**
 * One line for the admin: time, level, and the message starting with the network's (or guest's)
 * name; then the entry's other facts (duration, upstream, ...).
 */
export function formatEntry(e: LogEntry): string {
  const who = e.network ?? e.guest;
  const message = e.message ?? '';
  const text = who !== undefined && !message.startsWith(`${who}: `) ? `${who}: ${message}` : message;
  const extra = Object.entries(e).filter(([k]) => !SHOWN.has(k) && k !== 'guest').map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  if (typeof e.cause === 'string' && e.cause.trim()) extra.push(`cause=${JSON.stringify(e.cause.trim())}`);
  return `${e.timestamp ?? '-'} ${(e.level ?? '-').padEnd(5)} ${text}${extra.length ? ` (${extra.join(', ')})` : ''}`;
}

/** Read the bytes of `path` from `offset`; returns the text and the new offset (0 again when the file was rotated or truncated). */
export function readFrom(path: string, offset: number, inode?: number): { text: string; offset: number; inode?: number } {
  let st;
  try {
    st = statSync(path);
  } catch {
    return { text: '', offset: 0 };
  }
  const start = st.ino !== inode && inode !== undefined ? 0 : st.size < offset ? 0 : offset;
  if (st.size <= start) return { text: '', offset: start, inode: st.ino };
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(st.size - start);
    const n = readSync(fd, buf, 0, buf.length, start);
    // Only whole lines: a line being written now is read next time.
    const text = buf.subarray(0, n).toString('utf8');
    const end = text.lastIndexOf('\n') + 1;
    return { text: text.slice(0, end), offset: start + Buffer.byteLength(text.slice(0, end)), inode: st.ino };
  } finally {
    closeSync(fd);
  }
}
