import { chmodSync, chownSync, closeSync, fchmodSync, mkdirSync, openSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NatnsError } from '../domain/errors.js';
import { DNSMASQ_GROUP, DNSMASQ_USER, mergeLeases, type DhcpPlan } from '../plan/dnsmasq.js';
import { ensureDir, PRIVATE_FILE, writeError, writeFileAtomic } from '../sys/files.js';
import { Netns } from './netns.js';

/** dnsmasq would not start: the router itself may be fine. */
export class DnsmasqError extends NatnsError {}

/** A live dnsmasq started with this network's config, per its pid file, in whatever namespace it runs. */
function ownDnsmasq(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'dnsmasq.pid'), 'utf8').trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(`--conf-file=${join(dir, 'dnsmasq.conf')}`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The network's dnsmasq: started with its config and running in its router's namespace. A
 * namespace deleted and made again is a new namespace; a dnsmasq left in the old one (alive, its
 * pid file valid) serves nobody, so it does not count. Compared by the namespace's inode, read
 * from /proc and /run/netns without a process.
 */
export function dnsmasqPid(dir: string, namespace: string): number | undefined {
  const pid = ownDnsmasq(dir);
  if (pid === undefined) return undefined;
  try {
    const theirs = statSync(`/proc/${pid}/ns/net`);
    const router = statSync(`/run/netns/${namespace}`);
    return theirs.dev === router.dev && theirs.ino === router.ino ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Why the network has no dnsmasq of its own, for `natns check`. */
export function dnsmasqAbsence(dir: string, namespace: string): string | undefined {
  if (dnsmasqPid(dir, namespace) !== undefined) return undefined;
  const stray = ownDnsmasq(dir);
  return `dnsmasq is not running in ${namespace}${stray === undefined ? '' : ` (pid ${stray} runs outside it, in a namespace deleted behind natns's back)`}`;
}

/**
 * Converge the network's dnsmasq on `plan`: start it when missing or when its config changed,
 * and only SIGHUP it when just the reservations changed. dnsmasq daemonizes itself with its
 * stdio on /dev/null; its start-up output goes to a file, so nothing of it holds the hook's
 * (and so libvirt's) pipes.
 */
export async function ensureDnsmasq(ns: Netns, dir: string, plan: DhcpPlan): Promise<'started' | 'unchanged'> {
  const gid = prepareDhcpDir(dir);
  const confFile = join(dir, 'dnsmasq.conf');
  const hostsFile = join(dir, 'hosts');
  const confChanged = read(confFile) !== plan.conf;
  const hostsChanged = read(hostsFile) !== plan.hosts;
  if (hostsChanged) writeFileAtomic(hostsFile, plan.hosts, { mode: 0o640, gid });
  const namespace = ns.name!;
  const pid = dnsmasqPid(dir, namespace);
  if (pid !== undefined && !confChanged) {
    if (hostsChanged) process.kill(pid, 'SIGHUP');
    return 'unchanged';
  }
  // Ours but outside the namespace (or with an old config): it goes before a new one starts.
  await stopDnsmasq(dir);
  if (confChanged) writeFileAtomic(confFile, plan.conf);
  const log = join(dir, 'dnsmasq.log');
  // dnsmasq opens its leases file as root and keeps it open; created here, it is root's 0600
  // (guest MACs), not 0644 as dnsmasq would make it. Its start-up output likewise.
  for (const f of [join(dir, 'leases'), log]) createPrivate(f);
  const r = await ns.run(['dnsmasq', `--conf-file=${confFile}`], { outputFile: log });
  if (r.exitCode !== 0 || dnsmasqPid(dir, namespace) === undefined) {
    const said = read(log)?.trim().replace(/\s+/g, ' ') || `exit code ${r.exitCode}`;
    const hint = /Address already in use/.test(said) ? `; something else in ${namespace} holds its port (see: ip netns exec ${namespace} ss -lunp)` : '';
    throw new DnsmasqError(`dnsmasq could not start in ${namespace}: ${said}${hint}`);
  }
  return 'started';
}

/**
 * dnsmasq's folder, the one exception to root-only state: root:nogroup 0710, so dnsmasq
 * (nobody:nogroup after start-up) can reach its hosts file, and nobody else can even list it.
 * The folders above it must let others pass (0711, "State files" in the README). Returns the gid.
 */
function prepareDhcpDir(dir: string): number {
  const gid = groupId(DNSMASQ_GROUP);
  ensureDir(dirname(dir), 0o711);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o710 });
    chownSync(dir, 0, gid);
    chmodSync(dir, 0o710);
  } catch (err) {
    throw writeError(dir, err);
  }
  for (let d = dirname(dir); d !== dirname(d); d = dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) {
      throw new NatnsError(`dnsmasq runs as ${DNSMASQ_USER} and could not re-read ${join(dir, 'hosts')}: ${d} has mode ${(mode & 0o777).toString(8).padStart(4, '0')}; fix with: chmod o+x ${d}`);
    }
  }
  return gid;
}

function groupId(name: string): number {
  const line = read('/etc/group')?.split('\n').find((l) => l.startsWith(`${name}:`));
  const gid = Number(line?.split(':')[2]);
  if (line === undefined || !Number.isInteger(gid)) {
    throw new NatnsError(`group ${name} does not exist; dnsmasq needs it to drop root (create it with: groupadd --system ${name})`);
  }
  return gid;
}

function createPrivate(path: string): void {
  try {
    const fd = openSync(path, 'a', PRIVATE_FILE);
    try {
      fchmodSync(fd, PRIVATE_FILE);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    throw writeError(path, err);
  }
}

/**
 * Stop the network's dnsmasq (if any, wherever it runs) and wait for it to be gone, so the
 * namespace can go.
 */
export async function stopDnsmasq(dir: string): Promise<void> {
  const pid = ownDnsmasq(dir);
  if (pid !== undefined) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // Already exited.
    }
    for (let i = 0; i < 100 && isRunning(pid); i++) await new Promise((r) => setTimeout(r, 10));
  }
  rmSync(join(dir, 'dnsmasq.pid'), { force: true });
}

/** Alive and not a zombie: without a reaping init, an exited daemon lingers as one. */
export function isRunning(pid: number): boolean {
  const stat = read(`/proc/${pid}/stat`);
  if (stat === undefined) return false;
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Give a network's dnsmasq, before it starts, the leases another host's server handed out
 * (merged with this host's own): dnsmasq reads its leases file only at start-up. A running one
 * keeps its own view (it would write it over them): false, and nothing written.
 */
export function seedLeases(dir: string, namespace: string, shared: string): boolean {
  if (dnsmasqPid(dir, namespace) !== undefined) return false;
  prepareDhcpDir(dir);
  const file = join(dir, 'leases');
  writeFileAtomic(file, mergeLeases(read(file) ?? '', shared));
  return true;
}
