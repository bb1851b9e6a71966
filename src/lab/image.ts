import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { NatnsError } from '../domain/errors.js';
import { cpioArchive, type CpioEntry } from './cpio.js';
import initScript from './guest-init.sh';
import udhcpcScript from './udhcpc.sh';

/** The virtio network modules, in load order (virtio_net is a module in Debian's cloud kernel). */
export const GUEST_MODULES = [
  'virtio_ring', 'virtio', 'virtio_pci_modern_dev', 'virtio_pci_legacy_dev', 'virtio_pci', 'failover', 'net_failover', 'virtio_net',
];

/**
 * The modules the image loads: the virtio ones, and IPv6 (the guests' SLAAC) where the kernel
 * builds it as a module; Debian's cloud kernel builds it in (`modules.builtin` lists it).
 */
export function guestModules(modulesBuiltin: string): string[] {
  const ipv6BuiltIn = modulesBuiltin.split('\n').some((l) => l.trim().endsWith('/ipv6.ko'));
  return ipv6BuiltIn ? GUEST_MODULES : [...GUEST_MODULES, 'ipv6'];
}

export interface GuestImage {
  kernel: string;
  initrd: string;
}

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox'];

/**
 * Build (once) a tiny guest from Debian's own packages: the linux-image-cloud-amd64 kernel and
 * an initramfs of busybox-static plus the virtio modules. Cached by a hash of its inputs.
 */
export function guestImage(cacheDir = '/var/cache/natns/guest'): GuestImage {
  const kernelVersion = readdirSync('/boot')
    .filter((f) => /^vmlinuz-.*-cloud-amd64$/.test(f))
    .map((f) => f.slice('vmlinuz-'.length))
    .sort()
    .pop();
  if (!kernelVersion) throw new NatnsError('no cloud kernel in /boot: install linux-image-cloud-amd64 (./install.sh does)');
  const busybox = BUSYBOX_CANDIDATES.find((p) => existsSync(p));
  if (!busybox) throw new NatnsError('busybox not found: install busybox-static (./install.sh does)');
  // modules.dep lists every module's path: no need to walk the whole tree.
  const root = `/lib/modules/${kernelVersion}`;
  const paths = readFileSync(join(root, 'modules.dep'), 'utf8').split('\n').map((l) => l.split(':')[0]!);
  const names = guestModules(existsSync(join(root, 'modules.builtin')) ? readFileSync(join(root, 'modules.builtin'), 'utf8') : '');
  const modules = names.map((m) => {
    const path = paths.find((p) => p.endsWith(`/${m}.ko`));
    if (!path) throw new NatnsError(`kernel module ${m}.ko not found for ${kernelVersion} (compressed modules are not supported)`);
    return { name: m, data: readFileSync(join(root, path)) };
  });
  const busyboxData = readFileSync(busybox);
  // Jest strips a leading #! from text modules, so the interpreter line is added here, once.
  const script = (text: string) => `#!/bin/sh\n${text.replace(/^#![^\n]*\n/, '').replace(/^\n/, '')}`;
  const init = script(initScript);
  const udhcpc = script(udhcpcScript);
  const hash = createHash('sha256').update(kernelVersion).update(busyboxData).update(init).update(udhcpc);
  for (const m of modules) hash.update(m.data);
  const dir = join(cacheDir, hash.digest('hex').slice(0, 16));
  const image = { kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initrd.gz') };
  if (existsSync(image.initrd) && existsSync(image.kernel)) return image;

  const entries: CpioEntry[] = [
    ...['bin', 'dev', 'etc', 'lib', 'lib/modules', 'proc', 'sys', 'tmp'].map((d) => ({ path: d, type: 'dir' as const })),
    { path: 'bin/busybox', type: 'file', mode: 0o755, data: busyboxData },
    { path: 'bin/sh', type: 'symlink', data: 'busybox' },
    { path: 'init', type: 'file', mode: 0o755, data: init },
    { path: 'etc/udhcpc.sh', type: 'file', mode: 0o755, data: udhcpc },
    ...modules.map((m) => ({ path: `lib/modules/${m.name}.ko`, type: 'file' as const, data: m.data })),
    { path: 'lib/modules/load-order', type: 'file', data: Buffer.from(`${names.join('\n')}\n`) },
  ];
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  for (let d = dir; d !== cacheDir && d.length > cacheDir.length; d = join(d, '..')) chmodSync(d, 0o755);
  const tmp = `${image.initrd}.${process.pid}`;
  writeFileSync(tmp, gzipSync(cpioArchive(entries)), { mode: 0o644 });
  renameSync(tmp, image.initrd);
  copyFileSync(`/boot/vmlinuz-${kernelVersion}`, `${image.kernel}.${process.pid}`);
  chmodSync(`${image.kernel}.${process.pid}`, 0o644);
  renameSync(`${image.kernel}.${process.pid}`, image.kernel);
  return image;
}
