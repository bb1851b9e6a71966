import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NetworkRecord } from '../domain/model.js';
import { ensureDir, readJsonFile, writeFileAtomic } from '../sys/files.js';

/**
 * Which host's router is the active one for a stretched network, as this host's agent last
 * learned it from etcd. The agent writes it; every build (hook, repair, refresh) reads it, so a
 * rebuilt router never comes up active unless the agent holds the election for it.
 */
export interface Role {
  active: boolean;
  /** The host whose router is active, when known. */
  host?: string;
  /** Since when (ISO time), when known. */
  since?: string;
}

function roleFile(stateDir: string, uuid: string): string {
  return join(stateDir, 'roles', `${uuid}.json`);
}

export function readRole(stateDir: string, uuid: string): Role {
  const r = readJsonFile<Role>(roleFile(stateDir, uuid), (v) => typeof v === 'object' && v !== null && typeof (v as Role).active === 'boolean');
  return 'value' in r ? r.value : { active: false };
}

export function writeRole(stateDir: string, uuid: string, role: Role): void {
  ensureDir(join(stateDir, 'roles'));
  // Not fsync'd: after a crash the agent learns the role from etcd again.
  writeFileAtomic(roleFile(stateDir, uuid), JSON.stringify(role) + '\n', { durable: false });
}

export function agentPidFile(stateDir: string): string {
  return join(stateDir, 'agent.pid');
}

/** The pid of this host's running `natns agent`, from its pid file, if that process lives and is one. */
export function liveAgent(stateDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(agentPidFile(stateDir), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes('agent') ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** A stretched network as list, show and `agent status` say it: its VNI, whether this host's router is active, which host's is, since when. */
export function stretchOf(record: NetworkRecord, stateDir: string): { vni: number; active: boolean; host: string | null; since: string | null } {
  const role = readRole(stateDir, record.uuid);
  return { vni: record.vxlan!.vni, active: record.phase === 'running' && role.active, host: role.host ?? null, since: role.since ?? null };
}
