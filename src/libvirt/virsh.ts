import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, runChecked } from '../sys/run.js';

/**
 * The libvirt natns's commands ask: the system's, unless NATNS_LIBVIRT_URI names another (the
 * tests point it at libvirt's built-in test driver, or at a libvirtd of their own).
 */
export function libvirtUri(): string {
  return process.env.NATNS_LIBVIRT_URI || 'qemu:///system';
}

/** The network calls @unraid/libvirt lacks, through virsh (never from a hook: it would deadlock). */
export async function virsh(args: string[], what: string, input?: string): Promise<string> {
  return runChecked('virsh', ['-c', libvirtUri(), ...args], what, input);
}

/** virsh reads XML from a file only (Node's stdin pipes are sockets, which /dev/stdin cannot open). */
export async function netDefine(xml: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'natns-'));
  try {
    writeFileSync(join(dir, 'network.xml'), xml, { mode: 0o600 });
    await virsh(['net-define', join(dir, 'network.xml')], 'define network');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function netStart(name: string): Promise<void> {
  await virsh(['net-start', name], `start network ${name}`);
}

/** Stop and forget a network; a network that is already stopped or gone is fine. */
export async function netRemove(name: string): Promise<void> {
  await run('virsh', ['-c', libvirtUri(), 'net-destroy', name]);
  await run('virsh', ['-c', libvirtUri(), 'net-undefine', name]);
}

export async function netNames(): Promise<string[]> {
  const out = await virsh(['net-list', '--all', '--name'], 'list networks');
  return out.split('\n').map((l) => l.trim()).filter(Boolean);
}

/** What libvirt says of one network; undefined when it defines none by that name. */
export async function netInfo(name: string): Promise<{ active: boolean; persistent: boolean; autostart: boolean; bridge?: string } | undefined> {
  const r = await run('virsh', ['-c', libvirtUri(), 'net-info', name]);
  if (r.exitCode !== 0) return undefined;
  const field = (key: string) => new RegExp(`^${key}:\\s+(\\S+)`, 'm').exec(r.stdout)?.[1];
  const bridge = field('Bridge');
  return { active: field('Active') === 'yes', persistent: field('Persistent') === 'yes', autostart: field('Autostart') === 'yes', ...(bridge ? { bridge } : {}) };
}

/** A network's XML: what runs, or (`inactive`) what is defined for its next start. */
export async function netDumpXml(name: string, inactive = false): Promise<string> {
  return virsh(['net-dumpxml', ...(inactive ? ['--inactive'] : []), name], `read network ${name} from libvirt`);
}

export async function netAutostart(name: string): Promise<void> {
  await virsh(['net-autostart', name], `mark network ${name} to start with libvirtd`);
}

export async function netDestroy(name: string): Promise<void> {
  await virsh(['net-destroy', name], `stop network ${name}`);
}

export async function netUndefine(name: string): Promise<void> {
  await virsh(['net-undefine', name], `undefine network ${name}`);
}
