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
