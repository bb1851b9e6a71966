/**
 * A minimal writer for the cpio "newc" format the kernel unpacks as an initramfs: enough for
 * directories, regular files and symlinks. Deterministic (fixed mtime), so the image hash is stable.
 */
export interface CpioEntry {
  path: string;
  type: 'dir' | 'file' | 'symlink';
  mode?: number;
  /** File contents, or the symlink target. */
  data?: Buffer | string;
}

const TYPE_BITS = { dir: 0o040000, file: 0o100000, symlink: 0o120000 } as const;

function header(fields: number[]): string {
  return '070701' + fields.map((n) => n.toString(16).padStart(8, '0')).join('');
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

export function cpioArchive(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const push = (name: string, mode: number, data: Buffer) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const h = header([ino++, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, nameBuf.length, 0]);
    parts.push(Buffer.from(h), nameBuf, pad4(110 + nameBuf.length), data, pad4(data.length));
  };
  for (const e of entries) {
    const perm = e.mode ?? (e.type === 'dir' ? 0o755 : e.type === 'symlink' ? 0o777 : 0o644);
    const data = e.type === 'dir' ? Buffer.alloc(0) : Buffer.from(e.data ?? '');
    push(e.path.replace(/^\//, ''), TYPE_BITS[e.type] | perm, data);
  }
  push('TRAILER!!!', 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}
