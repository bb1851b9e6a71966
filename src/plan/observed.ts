/**
 * What the kernel holds for one router, in the shapes `ip -j` prints: the diff's input. The
 * kernel layer fills it in; the planner only reads it, so the diff stays pure.
 */
export interface IpLink {
  ifindex: number;
  ifname: string;
  link_index?: number;
  /** Set when the link's peer or lower device lives in another namespace. */
  link_netnsid?: number;
  flags?: string[];
  mtu?: number;
  master?: string;
  address?: string;
  operstate?: string;
  inet6_addr_gen_mode?: string;
  linkinfo?: { info_kind?: string; info_data?: { mode?: string; id?: number; local?: string; link?: string; port?: number } };
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

export interface IpRoute {
  dst: string;
  table?: string;
  gateway?: string;
  dev?: string;
  protocol?: string;
  scope?: string;
  type?: string;
  /** `ip -j` prints a router preference for IPv6 routes only: what tells the two families' routes apart. */
  pref?: string;
}

export interface IpRule {
  priority: number;
  src?: string;
  fwmark?: string;
  table?: string;
}

export interface IpNeighbor {
  dst: string;
  dev?: string;
  proxy?: null;
}

/** A forwarding entry of a VXLAN device, as `bridge -j fdb show` prints it. */
export interface FdbEntry {
  mac: string;
  dst?: string;
}

export interface ObservedRouter {
  namespace: boolean;
  /** The two host-side veth ends, by name; absent when missing. */
  host: Record<string, IpLink>;
  /** ifindex of each bridge (or macvlan lower) the router joins, in the host namespace. */
  lowers: Record<string, number>;
  /** Links inside the namespace with their addresses. */
  ns: IpLink[];
  /** Routes of the main table. */
  routes: IpRoute[];
  /** Routes of every other table (the transparent proxy's local route lives in one). */
  tableRoutes: IpRoute[];
  proxyNeighbors: IpNeighbor[];
  rules: IpRule[];
  /** IPv6 policy rules, looked at for dual-stack routers with a transparent proxy only. */
  rules6?: IpRule[];
  sysctls: Record<string, string>;
  /** The host settings the plan names, by path; UNSUPPORTED where the kernel has no such file. */
  hostSettings: Record<string, string>;
  nft: string | undefined;
  /** The `ip6 natns` table, looked at for dual-stack routers only. */
  nft6?: string;
  /** The network's VXLAN device's FDB entries (none when it does not exist). */
  fdb: FdbEntry[];
}

/** A host setting whose file the kernel does not have (IPv6 turned off at boot): nothing to do. */
export const UNSUPPORTED = 'unsupported';

export const NOTHING: ObservedRouter = {
  namespace: false, host: {}, lowers: {}, ns: [], routes: [], tableRoutes: [], proxyNeighbors: [], rules: [], sysctls: {}, hostSettings: {}, nft: undefined, fdb: [],
};

export function linkKind(link: IpLink): string | undefined {
  return link.linkinfo?.info_kind;
}

export function isUp(link: IpLink): boolean {
  return (link.flags ?? []).includes('UP');
}
