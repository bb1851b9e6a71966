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
