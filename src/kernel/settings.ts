import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { NatnsError } from '../domain/errors.js';
import { UNSUPPORTED } from '../plan/observed.js';

/**
 * Host kernel settings by their /proc/sys or /sys path, read and written as files: no process,
 * so a network start pays microseconds for them. Host namespace only.
 */
export function readSettings(paths: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const path of paths) {
    try {
      out[path] = readFileSync(path, 'utf8').trim();
    } catch {
      // IPv6 turned off at boot leaves no net/ipv6 tree: nothing to set there.
      if (path.startsWith('/proc/sys/net/ipv6/') && !existsSync('/proc/sys/net/ipv6')) out[path] = UNSUPPORTED;
    }
  }
  return out;
}

export function writeSettings(settings: Record<string, string>): void {
  for (const [path, value] of Object.entries(settings)) {
    try {
      writeFileSync(path, value);
    } catch (err) {
      throw new NatnsError(`cannot set ${path} to ${value}: ${(err as Error).message}`, { cause: err });
    }
  }
}
