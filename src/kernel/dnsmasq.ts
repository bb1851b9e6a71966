import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NatnsError } from '../domain/errors.js';
import type { DhcpPlan } from '../plan/dnsmasq.js';
import { writeFileAtomic } from '../sys/files.js';
import { Netns } from './netns.js';

/** The dnsmasq of a network, if its pid file names a live dnsmasq started with our config. */
export function dnsmasqPid(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, 'dnsmasq.pid'), 'utf8').trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes(`--conf-file=${join(dir, 'dnsmasq.conf')}`) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Converge the network's dnsmasq on `plan`: start it when missing or when its config changed,
 * and only SIGHUP it when just the reservations changed. dnsmasq daemonizes itself with its
 * stdio on /dev/null; its start-up output goes to a file, so nothing of it holds the hook's
 * (and so libvirt's) pipes.
 */
export async function ensureDnsmasq(ns: Netns, dir: string, plan: DhcpPlan): Promise<void> {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const confFile = join(dir, 'dnsmasq.conf');
  const hostsFile = join(dir, 'hosts');
  const confChanged = read(confFile) !== plan.conf;
  const hostsChanged = read(hostsFile) !== plan.hosts;
  if (hostsChanged) writeFileAtomic(hostsFile, plan.hosts, { mode: 0o644 });
  let pid = dnsmasqPid(dir);
  if (pid !== undefined && !confChanged) {
    if (hostsChanged) process.kill(pid, 'SIGHUP');
    return;
  }
  if (pid !== undefined) await stopDnsmasq(dir);
  if (confChanged) writeFileAtomic(confFile, plan.conf, { mode: 0o644 });
  const log = join(dir, 'dnsmasq.log');
  const r = await ns.run(['dnsmasq', `--conf-file=${confFile}`], { outputFile: log });
  pid = dnsmasqPid(dir);
  if (r.exitCode !== 0 || pid === undefined) {
    throw new NatnsError(`dnsmasq did not start in ${ns.label}: ${read(log)?.trim() || `exit code ${r.exitCode}`}`);
  }
}

/** Stop the network's dnsmasq (if any) and wait for it to be gone, so the namespace can go. */
export async function stopDnsmasq(dir: string): Promise<void> {
  const pid = dnsmasqPid(dir);
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
