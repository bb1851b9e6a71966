import { statSync } from 'node:fs';
import { NatnsError } from '../domain/errors.js';

/**
 * natns runs as root in libvirt's start path: a config or state that someone else can write
 * would let them steer root's ip and nft commands. Refuse such files, and say how to fix them.
 */
export function assertTrusted(path: string, what: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  const uid = process.getuid?.() ?? 0;
  if (st.uid !== 0 && st.uid !== uid) {
    throw new NatnsError(`refusing to use ${what} ${path}: it is owned by uid ${st.uid}, not root; fix with: chown root ${path}`);
  }
  if ((st.mode & 0o022) !== 0) {
    const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
    throw new NatnsError(`refusing to use ${what} ${path}: it is writable by ${st.mode & 0o002 ? 'everyone' : 'its group'} (mode ${mode}); fix with: chmod go-w ${path}`);
  }
}
