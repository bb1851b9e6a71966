import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { hostDeviceNames, namespaceName } from '../../src/domain/names.js';
import { paths } from '../../src/sys/paths.js';
import { dirname, join } from 'node:path';
import { repoRoot, sh } from './sandbox.js';

export const VIRSH = ['-c', 'qemu:///system'];

export async function virsh(...args: string[]) {
  return sh('virsh', [...VIRSH, ...args]);
}

/** Start libvirtd the way a host without systemd does, if it is not running. */
export async function ensureLibvirtd(): Promise<void> {
  if ((await virsh('uri')).exitCode === 0) return;
  if ((await sh('pgrep', ['-x', 'virtlogd'])).exitCode !== 0) await sh('virtlogd', ['-d']);
  await sh('libvirtd', ['-d']);
  for (let i = 0; i < 100; i++) {
    if ((await virsh('uri')).exitCode === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('libvirtd did not start');
}

/**
 * libvirt runs the installed hooks, not the working tree: make sure they are this build, so a
 * test never passes against an old install.
 */
export function assertInstalledHooksCurrent(): void {
  const hook = '/etc/libvirt/hooks/network.d/natns';
  if (!existsSync(hook)) throw new Error(`${hook} is missing: run ./install.sh first`);
  const installed = join(dirname(readlinkSync(hook)), 'hook-core.cjs');
  const mine = readFileSync(join(repoRoot, 'dist', 'hook-core.cjs'), 'utf8');
  if (!existsSync(installed) || readFileSync(installed, 'utf8') !== mine) {
    throw new Error(`${hook} is not this build: run ./install.sh again`);
  }
}

/** The natns CLI as an admin runs it: system config and state, no test overrides. */
export async function systemCli(args: string[]) {
  const env = { ...process.env };
  delete env.NATNS_CONFIG;
  delete env.NATNS_STATE_DIR;
  delete env.NATNS_LOG_DIR;
  return execa('natns', args, { reject: false, env, extendEnv: false });
}

/** Restart libvirtd as a host without systemd does, and wait until it answers. */
export async function restartLibvirtd(): Promise<void> {
  await sh('pkill', ['-TERM', '-x', 'libvirtd']);
  for (let i = 0; i < 100 && (await sh('pgrep', ['-x', 'libvirtd'])).exitCode === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
  }
  await ensureLibvirtd();
}

/** What a lab's networks left behind: their namespaces, host devices, and leases in the provider's pool. */
export async function labLeftovers(networks: { network: string; namespace: string; uuid: string }[], provider: string): Promise<string[]> {
  const left: string[] = [];
  for (const m of networks) {
    if (existsSync(`/run/netns/${namespaceName(m.network)}`)) left.push(`namespace ${m.namespace}`);
    for (const dev of Object.values(hostDeviceNames(m.uuid))) {
      if ((await sh('ip', ['link', 'show', dev])).exitCode === 0) left.push(`link ${dev}`);
    }
  }
  const leaseDir = join(paths.state(), 'leases', provider);
  if (existsSync(leaseDir)) left.push(...readdirSync(leaseDir).filter((a) => !a.startsWith('.')).map((a) => `lease ${a}`));
  return left;
}
