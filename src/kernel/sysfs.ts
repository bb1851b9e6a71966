import { existsSync, readFileSync, readlinkSync, readdirSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * Host-namespace link facts straight from sysfs: no process to spawn, so the hook's common paths
 * stay in the single-digit milliseconds. Only valid for the namespace this process lives in.
 */
const SYS = '/sys/class/net';

export function linkExists(name: string): boolean {
  return existsSync(`${SYS}/${name}`);
}

export function isBridge(name: string): boolean {
  return existsSync(`${SYS}/${name}/bridge`);
}

export function linkMtu(name: string): number | undefined {
  try {
    return Number(readFileSync(`${SYS}/${name}/mtu`, 'utf8').trim());
  } catch {
    return undefined;
  }
}

export function linkIndex(name: string): number | undefined {
  try {
    return Number(readFileSync(`${SYS}/${name}/ifindex`, 'utf8').trim());
  } catch {
    return undefined;
  }
}

export function linkMaster(name: string): string | undefined {
  try {
    return basename(readlinkSync(`${SYS}/${name}/master`));
  } catch {
    return undefined;
  }
}

export function bridgePorts(name: string): string[] {
  try {
    return readdirSync(`${SYS}/${name}/brif`);
  } catch {
    return [];
  }
}

export function namespaceExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

/**
 * The host's tap devices (tun_flags marks a tun/tap device) whose MAC passes `wanted`, with
 * their master. `wanted` is asked before anything else is read: a host with thousands of
 * routers has thousands of devices and few taps of interest.
 */
export function taps(wanted: (mac: string) => boolean): { name: string; mac: string; master?: string }[] {
  const out: { name: string; mac: string; master?: string }[] = [];
  let names: string[];
  try {
    names = readdirSync(SYS);
  } catch {
    return out;
  }
  for (const name of names) {
    let mac: string;
    try {
      mac = readFileSync(`${SYS}/${name}/address`, 'utf8').trim();
    } catch {
      continue;
    }
    if (!wanted(mac) || !existsSync(`${SYS}/${name}/tun_flags`)) continue;
    const master = linkMaster(name);
    out.push({ name, mac, ...(master ? { master } : {}) });
  }
  return out;
}
