import { createHash } from 'node:crypto';

/**
 * Every kernel object natns creates carries a natns prefix and a name derived from the network,
 * so the same network always maps to the same objects and a sweep can tell ours from an admin's.
 */
export const NAMESPACE_PREFIX = 'natns-';
export const HOST_LAN_PREFIX = 'nnl-';
export const HOST_WAN_PREFIX = 'nnu-';
/** A stretched network's VXLAN device, a port of its bridge. */
export const HOST_VXLAN_PREFIX = 'nnx-';
/** Inside the namespace only natns lives, so short fixed names keep the rules readable. */
export const NS_LAN = 'lan';
export const NS_WAN = 'wan';
export const NFT_TABLE = 'natns';

export function namespaceName(network: string): string {
  return `${NAMESPACE_PREFIX}${network}`;
}

/** 44 bits of the UUID's hash: 15 characters with the prefix, the kernel's IFNAMSIZ limit. */
export function deviceTag(uuid: string): string {
  return createHash('sha256').update(uuid.toLowerCase()).digest('hex').slice(0, 11);
}

/** Every host device a network may have; `vxlan` exists only for a stretched one. */
export function hostDeviceNames(uuid: string): { lan: string; wan: string; vxlan: string } {
  const tag = deviceTag(uuid);
  return { lan: `${HOST_LAN_PREFIX}${tag}`, wan: `${HOST_WAN_PREFIX}${tag}`, vxlan: `${HOST_VXLAN_PREFIX}${tag}` };
}

export function isNatnsHostDevice(name: string): boolean {
  return /^nn[lux]-[0-9a-f]{11}$/.test(name);
}

/**
 * A fixed MAC per router side, so a rebuilt router (restart, repair) answers with the same
 * address and guests' and the upstream's ARP caches stay right. Locally administered unicast.
 */
export function routerMac(uuid: string, side: 'lan' | 'wan'): string {
  const h = createHash('sha256').update(`${uuid.toLowerCase()}:${side}`).digest();
  return ['02', ...[...h.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** Everything a router is called by: enough to remove it without its plan. */
export interface RouterNames {
  namespace: string;
  /** The host ends of the veth patches (reserved, never created, for macvlan patches) and the VXLAN device. */
  hostDevices: { lan: string; wan: string; vxlan: string };
}

export function routerNames(network: string, uuid: string): RouterNames {
  return { namespace: namespaceName(network), hostDevices: hostDeviceNames(uuid) };
}
