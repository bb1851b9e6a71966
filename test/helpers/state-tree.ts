import { lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export interface Entry {
  path: string;
  type: 'dir' | 'file';
  mode: string;
  uid: number;
  gid: number;
  size: number;
}

/** Every folder and file under `root`, paths relative to it ('' is root itself). */
export function walk(root: string, rel = ''): Entry[] {
  const st = lstatSync(join(root, rel));
  const entry: Entry = {
    path: rel, type: st.isDirectory() ? 'dir' : 'file', mode: (st.mode & 0o7777).toString(8).padStart(4, '0'), uid: st.uid, gid: st.gid, size: st.size,
  };
  if (!st.isDirectory()) return [entry];
  return [entry, ...readdirSync(join(root, rel)).sort().flatMap((n) => walk(root, rel ? `${rel}/${n}` : n))];
}

const NOGROUP = 65534;
const NOBODY = 65534;

/**
 * natns's policy for its state (README, "State files"): root's alone, except the way to
 * dnsmasq's hosts file. Returns what breaks it, one line per entry ([] when all is well).
 */
export function policyViolations(root: string, entries = walk(root)): string[] {
  const want = (e: Entry): { mode: string; uid: number; gid: number } | 'dnsmasq' => {
    if (e.path === '' || e.path === 'dhcp') return { mode: '0711', uid: 0, gid: 0 };
    if (/^dhcp\/[^/]+$/.test(e.path)) return { mode: '0710', uid: 0, gid: NOGROUP };
    if (/^dhcp\/[^/]+\/hosts$/.test(e.path)) return { mode: '0640', uid: 0, gid: NOGROUP };
    // dnsmasq writes its pid file itself and hands it to its user; it holds nothing secret.
    if (/^dhcp\/[^/]+\/dnsmasq\.pid$/.test(e.path)) return 'dnsmasq';
    return { mode: e.type === 'dir' ? '0700' : '0600', uid: 0, gid: 0 };
  };
  return entries.flatMap((e) => {
    const w = want(e);
    if (w === 'dnsmasq') return e.uid === NOBODY && e.gid === NOGROUP && e.mode === '0644' ? [] : [`${e.path}: ${e.mode} ${e.uid}:${e.gid}, want dnsmasq's own 0644 ${NOBODY}:${NOGROUP}`];
    return e.mode === w.mode && e.uid === w.uid && e.gid === w.gid ? [] : [`${e.path || '.'}: ${e.mode} ${e.uid}:${e.gid}, want ${w.mode} ${w.uid}:${w.gid}`];
  });
}
