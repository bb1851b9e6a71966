/**
 * The natns vocabulary, once: what a network, its upstream lease, a guest and what it publishes
 * are. The XML readers produce these, the planner and the kernel layer consume them and the
 * stores keep them as they are. Addresses are canonical strings (see address.ts).
 */
import type { Cidr } from './address.js';

export type Proto = 'tcp' | 'udp';

/**
 * How the router namespace joins the two bridges. veth: a veth pair per side, its host end a
 * port of the bridge. macvlan: a macvlan of each bridge (or, upstream, of a NIC) moved into the
 * namespace, one hop less per packet; the host itself cannot reach a macvlan's addresses.
 */
export type PatchKind = 'veth' | 'macvlan';

/** Where a network's upstream address comes from: a pool of the host config, or fixed in the metadata. */
export type UpstreamSpec =
  | { kind: 'pool'; pool: string }
  | { kind: 'fixed'; bridge: string; address: string; prefix: number; gateway: string };

export type FixedUpstream = Extract<UpstreamSpec, { kind: 'fixed' }>;

/**
 * How a network's IPv6 traffic leaves. nat66: SNAT to the network's own upstream IPv6 address,
 * as for IPv4. nptv6: the private /64 is rewritten 1:1 to a /64 leased to the network, so every
 * guest keeps a public identity of its own in both directions.
 */
export type Nat6Mode = 'nat66' | 'nptv6';

/** The IPv6 upstream element: a pool or fixed, as for IPv4, and the translation mode. */
export type UpstreamSpec6 = UpstreamSpec & { mode: Nat6Mode };

/** Divert guests' traffic to these ports to a transparent proxy listening in the namespace. */
export interface TproxySpec {
  proto: Proto;
  ports: number[];
  toPort: number;
  mark: number;
  table: number;
}

/**
 * A service in the router namespace opened by the admin: its input chain drops everything but
 * DHCP, DNS and ICMP from the guests otherwise.
 */
export interface InputRule {
  proto: Proto;
  ports: number[];
  /** Which side may reach it: the guests (lan), the upstream network (wan) or both. */
  from: 'lan' | 'wan' | 'any';
}

export interface DhcpRange {
  start: string;
  end: string;
}

/**
 * A VXLAN stretch of the network's bridge to other hosts: static remotes (all-zero FDB entries,
 * head-end replication of broadcasts), so no multicast is needed on the underlay.
 */
export interface VxlanSpec {
  vni: number;
  /** Every host's VTEP address; a host leaves its own out. */
  remotes: string[];
  /** This host's VTEP address; absent: the host config's "vxlanLocal". */
  local?: string;
  /** The underlay device; absent: whichever the route to the remotes uses. */
  dev?: string;
  port: number;
}

/** A natns network: what its libvirt definition and natns metadata ask for, validated. */
export interface NetworkSpec {
  name: string;
  uuid: string;
  /** The libvirt bridge guests plug into. */
  bridge: string;
  /** The private gateway the router holds, with the subnet's prefix; absent: an IPv6-only network. */
  private?: Cidr;
  /** Where its IPv4 upstream address comes from; present exactly when `private` is. */
  upstream?: UpstreamSpec;
  /** The IPv6 private gateway and its /64; absent: the network has no IPv6. */
  private6?: Cidr;
  /** Where its IPv6 upstream identity comes from; present exactly when `private6` is. */
  upstream6?: UpstreamSpec6;
  /** A DHCP range served by dnsmasq inside the namespace; absent: no DHCP. */
  dhcp?: DhcpRange;
  tproxy?: TproxySpec;
  /** Absent: veth. */
  patch?: PatchKind;
  /** Services in the namespace opened beyond DHCP, DNS and ICMP; absent: none. */
  inputs?: InputRule[];
  /** Absent: the network lives on this host only. */
  vxlan?: VxlanSpec;
}

/** The upstream side a network (or a 1:1 guest) holds: leased from a pool or fixed. */
export interface Upstream {
  bridge: string;
  address: string;
  prefix: number;
  gateway: string;
  pool?: string;
}

/**
 * The IPv6 upstream side. nat66: `address` is the router's upstream address on a link of
 * `prefix`. nptv6: `address`/`prefix` is the routed prefix the private /64 is translated to.
 */
export interface Upstream6 extends Upstream {
  mode: Nat6Mode;
}

/** starting: lease reserved at `start begin`; running: router built; stopped; failed. */
export type Phase = 'starting' | 'running' | 'stopped' | 'failed';

/** What natns keeps per network: the spec as validated, the lease it holds, and its phase. */
export interface NetworkRecord extends NetworkSpec {
  /** The IPv4 upstream side, for a network with `private`. */
  lease?: Upstream;
  /** The IPv6 upstream side, for a network with `private6`. */
  lease6?: Upstream6;
  phase: Phase;
  updated: string;
}

/** Who holds an upstream address. */
export interface LeaseOwner {
  uuid: string;
  /** The network or guest name, for messages only; the UUID is the key. */
  name: string;
  pool?: string;
  /** A guest's 1:1 public address; absent: a network's upstream address. */
  kind?: 'guest';
  /**
   * The host whose network or guest holds it: leases in etcd are shared by every host on the
   * provider network. File leases are this host's; their files need not say so.
   */
  host?: string;
  /**
   * A stretched network's lease: every host that runs the network claims the same address
   * (only the elected router answers for it), so another host's claim is not a conflict.
   */
  stretched?: boolean;
}

export interface Lease {
  bridge: string;
  address: string;
  owner: LeaseOwner;
}

export interface PortForward {
  proto: Proto;
  port: number;
  toPort: number;
}

/** What one guest asks of one natns network. */
export interface GuestOnNetwork {
  network: string;
  mac: string;
  /** The reserved address (DHCP reservation, and the target of its forwards). */
  ip?: string;
  /** The reserved IPv6 address on a dual-stack network (DHCPv6 reservation, target of its IPv6 forwards). */
  ip6?: string;
  forwards: PortForward[];
  /** 1:1 NAT: a public address of its own, fixed or from a pool. */
  public?: { address?: string; pool?: string };
  /**
   * A second <public>, for the other family. A pool's family is known only from the config, so
   * the guest's start sorts pool-given ones into `public` (IPv4) and `public6` (IPv6).
   */
  public6?: { address?: string; pool?: string };
  /** The public address actually leased (set when the guest starts). */
  publicAddress?: string;
  /** The public IPv6 address actually leased. */
  publicAddress6?: string;
}

/** A guest with natns metadata, validated. */
export interface GuestSpec {
  name: string;
  uuid: string;
  networks: GuestOnNetwork[];
}

/** A running guest's natns extras, kept so a network (re)start can restore them. */
export interface GuestRecord extends GuestSpec {
  updated: string;
}

/** A forward an admin added by hand (`natns forward add`), kept per network UUID. */
export interface AdminForward extends PortForward {
  to: string;
}

/** A published port: upstream-address:port (proto) goes to `to`:`toPort` on the private side. */
export interface ForwardRule extends AdminForward {
  /** Who asked for it: `guest-<uuid>` or `admin`; it tags the rule. */
  owner: string;
}

/** A guest's own public address, rewritten both ways without connection tracking. */
export interface OneToOne {
  owner: string;
  private: string;
  public: string;
}

/** A guest's reserved addresses on one network, by MAC: IPv4 (DHCP), IPv6 (DHCPv6), or both. */
export interface DhcpReservation {
  mac: string;
  ip?: string;
  ip6?: string;
}

/** A guest interface plugged into a network, from the network hook's port-created event. */
export interface PortRecord {
  port: string;
  vm: string;
  vmUuid: string;
  mac: string;
}

/** The bridge a network's router joins upstream: both families share it. */
export function upstreamBridgeOf(r: { lease?: Upstream; lease6?: Upstream }): string {
  return (r.lease ?? r.lease6)!.bridge;
}

/** A network's upstream addresses, for messages and logs: '198.51.100.101', '2001:db8:100::100' or both. */
export function upstreamText(r: { lease?: Upstream; lease6?: Upstream }): string {
  return [r.lease?.address, r.lease6?.address].filter(Boolean).join(' and ');
}
