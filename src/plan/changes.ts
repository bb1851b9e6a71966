import type { IpLink } from './observed.js';

/**
 * The difference between a desired router and the kernel, as ip batch lines. Pure: the same
 * inputs give the same lines, so "ensure twice" can be asserted as "the second diff is empty".
 */
export interface RouterChanges {
  /** Objects in natns's way that natns did not make; it will not touch them. */
  conflicts: string[];
  /** Human-readable, one per difference: what `natns check` prints. */
  differences: string[];
  /** Namespace batch lines that must run before the host batch (stale namespace-side links). */
  nsFirst: string[];
  /** ip -batch lines in the host namespace. */
  host: string[];
  /** `bridge -batch` lines in the host namespace, after the host batch: the VXLAN device's FDB. */
  fdb: string[];
  /** ip -batch lines inside the namespace, without the sysctl and nft steps. */
  ns: string[];
  /** `ip -6 -batch` lines inside the namespace, after `ns` (IPv6 policy rules need -6, which a batch line cannot say). */
  ns6: string[];
  sysctls: Record<string, string>;
  /** Host settings to write, by path. */
  hostSettings: Record<string, string>;
  nft: boolean;
}

export function noChanges(): RouterChanges {
  return { conflicts: [], differences: [], nsFirst: [], host: [], fdb: [], ns: [], ns6: [], sysctls: {}, hostSettings: {}, nft: false };
}

/**
 * natns's routers are IPv4 only, so their devices make no IPv6 link-local addresses: no DAD,
 * router solicitations or MLD from every router onto tenant and provider segments, and no
 * per-device IPv6 timers, which made every kernel operation slower as routers piled up
 * (a shell-built router took 2.9x as long with 1000 routers present, 1.4x without).
 */
export function diffAddrGenMode(link: IpLink, lines: string[], c: RouterChanges): void {
  if (link.inet6_addr_gen_mode === undefined || link.inet6_addr_gen_mode === 'none') return;
  c.differences.push(`${link.ifname} makes IPv6 link-local addresses (addrgenmode ${link.inet6_addr_gen_mode})`);
  lines.push(`link set ${link.ifname} addrgenmode none`);
}
