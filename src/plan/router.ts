import { cidrText, compareAddresses, familyOf, isLinkLocal, linkLocalFromMac, subnetText } from '../domain/address.js';
import type { ForwardRule, InputRule, NetworkSpec, OneToOne, PatchKind, TproxySpec, Upstream, Upstream6 } from '../domain/model.js';
import { hostDeviceNames, namespaceName, NFT_TABLE, NS_LAN, NS_WAN, routerMac } from '../domain/names.js';
import { countChain, nftMark, nftPorts, serviceInputs } from './nft-text.js';
import { renderNft6 } from './nft6.js';

export interface RouterInput {
  network: Pick<NetworkSpec, 'name' | 'uuid' | 'bridge' | 'private' | 'tproxy' | 'patch' | 'dhcp' | 'inputs' | 'private6' | 'vxlan'>;
  /** The IPv4 upstream side the network holds (absent: an IPv6-only network). */
  lease?: Upstream;
  /** Its IPv6 upstream side, for a network with `private6`. */
  lease6?: Upstream6;
  /** MTUs of the two bridges, so the patches never fragment what the bridges carry. */
  mtu: { lan: number; wan: number };
  forwards?: ForwardRule[];
  /** The host's own addresses (either family) on the upstream bridge, which guests must not reach. */
  hostAddresses?: string[];
  oneToOne?: OneToOne[];
  /**
   * A stretched network's router that another host's is the active one: built, but with both
   * sides down and no routes, so it answers for nothing until `natns agent` makes it active.
   */
  standby?: boolean;
  /** A stretched network: this host's VTEP address and the MTU of the underlay towards the remotes. */
  underlay?: { local: string; mtu: number };
}

/** VXLAN adds 50 bytes to every frame (outer IPv4 20, UDP 8, VXLAN 8, inner Ethernet 14). */
export const VXLAN_OVERHEAD = 50;

/** The kernel VXLAN device that stretches the network's bridge to the other hosts. */
export interface VxlanPlan {
  name: string;
  vni: number;
  local: string;
  /** The other hosts' VTEPs (this host's own left out), each an all-zero FDB entry. */
  remotes: string[];
  /** The underlay device, when the metadata names one. */
  dev?: string;
  port: number;
  mtu: number;
  /** The network's bridge. */
  master: string;
}

export interface LinkPlan {
  kind: PatchKind;
  /** veth: the end in the host namespace, a port of `master`. macvlan: none exists; the name is only reserved. */
  host: string;
  /** The device inside the router namespace, holding `address`. */
  peer: string;
  /** veth: the bridge its host end joins. macvlan: its lower device. */
  master: string;
  mtu: number;
  /** Its IPv4 address; absent on an IPv6-only router. */
  address?: string;
  /** The namespace end's MAC, stable per network. */
  mac: string;
  /**
   * Dual-stack networks only: the device's IPv6 addresses, its global one (none on the wan of an
   * NPTv6 network) and a link-local one derived from `mac`, both added without DAD.
   */
  addresses6?: string[];
}

export interface RoutePlan {
  dst: string;
  via: string;
  dev: string;
  /** The gateway is on the link although no address of the router covers it (NPTv6 with a global gateway). */
  onlink?: boolean;
}

/** Policy routing for the transparent proxy: marked packets are delivered locally. */
export interface TproxyRouting {
  mark: number;
  table: number;
  /** A dual-stack router diverts IPv6 too: the same rule and local route in the IPv6 tables. */
  ipv6?: boolean;
  /** An IPv6-only router diverts no IPv4. */
  ipv4?: false;
}

export interface DesiredRouter {
  network: string;
  uuid: string;
  namespace: string;
  lan: LinkPlan;
  wan: LinkPlan;
  /** The host-namespace name of the network's VXLAN device: removed when present and not planned. */
  vxlanName: string;
  vxlan?: VxlanPlan;
  /** Both sides down, no routes: see RouterInput.standby. */
  standby: boolean;
  routes: RoutePlan[];
  /** Public 1:1 addresses the namespace answers ARP for on `wan`. */
  proxyNeighbors: string[];
  tproxy?: TproxyRouting;
  sysctls: Record<string, string>;
  /**
   * Host-namespace kernel settings of the network's own bridge, by absolute /proc/sys or /sys
   * path: the host holds no address there by design and must stay deaf on it.
   */
  hostSettings: Record<string, string>;
  /** The nft table exactly as `nft list table` prints it back, so observing it is a string compare; absent on an IPv6-only router. */
  nft?: string;
  /** Dual-stack networks only: the `ip6 natns` table, replaced in the same transaction. */
  nft6?: string;
}

export function planRouter(input: RouterInput): DesiredRouter {
  const { network: net } = input;
  const devices = hostDeviceNames(net.uuid);
  const kind = net.patch ?? 'veth';
  const sorted = [...(input.oneToOne ?? [])].sort((a, b) => a.public.localeCompare(b.public));
  const oneToOne = sorted.filter((o) => familyOf(o.public) === 'ipv4');
  const hostAddresses = [...(input.hostAddresses ?? [])].sort();
  const v4 = net.private && input.lease ? { private: net.private, lease: input.lease } : undefined;
  const v6 = net.private6 && input.lease6 ? { private6: net.private6, lease6: input.lease6 } : undefined;
  const vxlan = planVxlan(net, devices.vxlan, input.underlay);
  // Over a stretch the router's private side keeps to the VXLAN MTU too, so its own frames
  // (and what it routes to guests) cross to the other hosts unfragmented.
  const lan: LinkPlan = {
    kind, host: devices.lan, peer: NS_LAN, master: net.bridge, mtu: lanMtu(input.mtu.lan, vxlan),
    ...(v4 ? { address: cidrText(v4.private) } : {}), mac: routerMac(net.uuid, 'lan'),
  };
  const wan: LinkPlan = {
    kind, host: devices.wan, peer: NS_WAN, master: (input.lease ?? input.lease6)!.bridge, mtu: input.mtu.wan,
    ...(v4 ? { address: cidrText(v4.lease) } : {}), mac: routerMac(net.uuid, 'wan'),
  };
  const desired: DesiredRouter = {
    network: net.name,
    uuid: net.uuid,
    namespace: namespaceName(net.name),
    lan,
    wan,
    vxlanName: devices.vxlan,
    ...(vxlan ? { vxlan } : {}),
    standby: input.standby === true,
    // A 1:1 address routes towards its guest: the kernel proxy-answers ARP only for addresses
    // that route out through another interface than the one asking. A down link holds no routes.
    routes: v4 && !input.standby ? [
      { dst: 'default', via: v4.lease.gateway, dev: NS_WAN },
      ...oneToOne.map((o) => ({ dst: o.public, via: o.private, dev: NS_LAN })),
    ] : [],
    // IPv6 ones are answered by proxy NDP, which needs no route: their rewrite happens before routing.
    proxyNeighbors: [...oneToOne, ...sorted.filter((o) => familyOf(o.public) === 'ipv6')].map((o) => o.public),
    ...(net.tproxy ? { tproxy: { mark: net.tproxy.mark, table: net.tproxy.table, ...(v4 ? {} : { ipv4: false as const }) } } : {}),
    // rp_filter off: a 1:1 guest's rewritten source arrives on `lan` although it routes via `wan`;
    // anti-spoofing is done by the nft table instead, which knows the subnets.
    // proxy_delay 0: the kernel holds a proxied ARP answer (1:1 addresses) up to 0.8 s by default,
    // and a 1:1 guest's first contact from upstream waited that long.
    sysctls: v4 ? {
      'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0', [`net.ipv4.conf.${NS_LAN}.rp_filter`]: '0', [`net.ipv4.neigh.${NS_WAN}.proxy_delay`]: '0',
    } : {},
    hostSettings: deafBridge(net.bridge),
    ...(v4 ? {
      nft: renderNft({
        network: net.name, uuid: net.uuid, privateNet: subnetText(v4.private), upstreamAddress: v4.lease.address,
        privateAddress: v4.private.address, forwards: sortForwards((input.forwards ?? []).filter((f) => familyOf(f.to) === 'ipv4')),
        hostAddresses: hostAddresses.filter((a) => familyOf(a) === 'ipv4'),
        oneToOne, ...(net.tproxy ? { tproxy: net.tproxy } : {}), dhcp: net.dhcp !== undefined, inputs: net.inputs ?? [],
      }),
    } : {}),
  };
  if (v6) addIPv6(desired, input, v6, hostAddresses);
  return desired;
}

/**
 * The IPv6 side of a dual-stack router: addresses (global and a stable link-local per device,
 * no DAD: the router is the only holder of both), the default route, the sysctls that make it a
 * router that never learns from router advertisements, and the `ip6 natns` table.
 */
function addIPv6(desired: DesiredRouter, input: RouterInput, v6: { private6: RouterInput['network']['private6'] & object; lease6: Upstream6 }, hostAddresses: string[]): void {
  const { network: net } = input;
  const { private6, lease6 } = v6;
  const linkLocal = (mac: string) => `${linkLocalFromMac(mac)}/64`;
  desired.lan.addresses6 = [cidrText(private6), linkLocal(desired.lan.mac)];
  // NPTv6: the leased prefix is routed to the router's link-local address; it holds no address of it.
  desired.wan.addresses6 = [...(lease6.mode === 'nat66' ? [cidrText(lease6)] : []), linkLocal(desired.wan.mac)];
  const onLink = isLinkLocal(lease6.gateway) || lease6.mode === 'nat66';
  desired.routes.splice(1, 0, { dst: 'default', via: lease6.gateway, dev: NS_WAN, ...(onLink ? {} : { onlink: true }) });
  // Forwarding first: with it on, the kernel neither solicits nor accepts router advertisements;
  // accept_ra 0 says so per device as well.
  desired.sysctls = {
    ...desired.sysctls,
    'net.ipv6.conf.all.forwarding': '1',
    // Neighbour solicitations for 1:1 guests' public IPv6 addresses are answered from the proxy table only.
    [`net.ipv6.conf.${NS_WAN}.proxy_ndp`]: '1', [`net.ipv6.neigh.${NS_WAN}.proxy_delay`]: '0',
    ...Object.fromEntries([NS_LAN, NS_WAN].flatMap((d) => [
      [`net.ipv6.conf.${d}.disable_ipv6`, '0'], [`net.ipv6.conf.${d}.accept_ra`, '0'], [`net.ipv6.conf.${d}.accept_dad`, '0'],
    ])),
  };
  if (desired.tproxy) desired.tproxy.ipv6 = true;
  desired.nft6 = renderNft6({
    network: net.name, uuid: net.uuid, private6, lease6, ...(net.tproxy ? { tproxy: net.tproxy } : {}),
    forwards: sortForwards((input.forwards ?? []).filter((f) => familyOf(f.to) === 'ipv6')),
    hostAddresses: hostAddresses.filter((a) => familyOf(a) === 'ipv6' && !isLinkLocal(a)),
    oneToOne: (input.oneToOne ?? []).filter((o) => familyOf(o.public) === 'ipv6').sort((a, b) => a.public.localeCompare(b.public)),
    dhcp: true, inputs: net.inputs ?? [],
  });
}

function planVxlan(net: RouterInput['network'], name: string, underlay: RouterInput['underlay']): VxlanPlan | undefined {
  if (!net.vxlan) return undefined;
  if (!underlay) throw new Error(`network ${net.name} is stretched but its plan was given no underlay`);
  const v = net.vxlan;
  return {
    name, vni: v.vni, local: underlay.local, remotes: v.remotes.filter((r) => r !== underlay.local),
    ...(v.dev ? { dev: v.dev } : {}), port: v.port, mtu: underlay.mtu - VXLAN_OVERHEAD, master: net.bridge,
  };
}

/** The MTU guests and the router's private side use: the bridge's, lowered to the stretch's. */
export function lanMtu(bridgeMtu: number, vxlan: VxlanPlan | undefined): number {
  return vxlan ? Math.min(bridgeMtu, vxlan.mtu) : bridgeMtu;
}

/**
 * The host on a natns network's bridge: it answers no ARP (arp_ignore 8), drops every IPv4
 * packet there because no source routes back through it (strict rp_filter), never forwards for a
 * guest that picks it as its router, and runs no IPv6 on it. Without these a guest adding an
 * on-link route to any host address reached the host at L2, past the router's rules. Plain
 * per-device kernel settings: no firewall reload touches them. STP is off, so a rebuilt router's
 * port (and a guest's) forwards at once instead of after ~4 s of listening and learning; the
 * segment holds guests and one router port and cannot loop unless a guest bridges two of its NICs.
 */
function deafBridge(bridge: string): Record<string, string> {
  const v4 = `/proc/sys/net/ipv4/conf/${bridge}`;
  return {
    [`${v4}/arp_ignore`]: '8', [`${v4}/rp_filter`]: '1', [`${v4}/forwarding`]: '0',
    [`/proc/sys/net/ipv6/conf/${bridge}/disable_ipv6`]: '1',
    [`/sys/class/net/${bridge}/bridge/stp_state`]: '0',
  };
}

/** Forwards in a fixed order, so the same set always renders the same table. */
function sortForwards(forwards: ForwardRule[]): ForwardRule[] {
  return [...forwards].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
}

/**
 * One table owned by natns, in exactly the form `nft list table` prints it back.
 * - raw: the upstream side never speaks with the router's own or the guests' addresses
 *   (anti-spoofing before any rewrite or DNAT), then stateless 1:1 NAT.
 * - input: the namespace itself answers only ICMP, and DHCP and DNS from the guests (plus the
 *   transparent proxy and what the admin opens with <natns:input>).
 * - forward: closed by default. The host's own upstream addresses are dropped first, so no
 *   accept (not even for untracked 1:1 traffic) lets guests reach them; guests may not use a
 *   source outside their subnet; they may go out, replies come back, published ports come in.
 * Outbound traffic is SNATed to the network's own upstream address rather than masqueraded,
 * which is cheaper and never picks a wrong source. A guest reaching a published port of its own
 * network (hairpin) is SNATed to the private gateway, so the reply comes back through the router.
 */
function renderNft(v: {
  network: string; uuid: string; privateNet: string; upstreamAddress: string; privateAddress: string; forwards: ForwardRule[];
  hostAddresses: string[]; oneToOne: OneToOne[]; tproxy?: TproxySpec; dhcp: boolean; inputs: InputRule[];
}): string {
  const oneToOne = v.oneToOne.length > 0;
  const lines = [
    `table ip ${NFT_TABLE} {`,
    `\tcomment "natns router for network ${v.network} (${v.uuid})"`,
    // The 1:1 guests as two maps, public -> private and back: one lookup per packet whatever
    // their number, where a rule pair per guest cost every packet up to two rules per guest.
    ...(oneToOne ? [
      ...addressMap(ONE_TO_ONE_IN, v.oneToOne.map((o) => [o.public, o.private])),
      ...addressMap(ONE_TO_ONE_OUT, v.oneToOne.map((o) => [o.private, o.public])),
    ] : []),
    `\tchain raw {`,
    `\t\ttype filter hook prerouting priority raw; policy accept;`,
    // One rule per source: nft prints adjacent set elements back as ranges, which the plan would
    // have to mimic to compare. The 1:1 addresses are the keys of their map, one lookup.
    ...[v.privateNet, v.upstreamAddress].map((a) => `\t\tiifname "${NS_WAN}" ip saddr ${a} drop comment "natns:antispoof-wan"`),
    // Stateless 1:1 NAT: rewritten before routing and never tracked, so every protocol and both
    // directions work, and the SNAT below (a conntrack NAT hook) never sees these packets. The
    // network's own upstream address stays tracked, so its published ports work by hairpin. A
    // packet whose address is not in the map ends the rule at the lookup: neither rewritten nor
    // untracked.
    ...(oneToOne ? [
      `\t\tiifname "${NS_WAN}" ip saddr @${ONE_TO_ONE_IN} drop comment "natns:antispoof-wan"`,
      `\t\tiifname "${NS_WAN}" ip daddr set ip daddr map @${ONE_TO_ONE_IN} notrack comment "natns:1to1"`,
      `\t\tiifname "${NS_LAN}" ip daddr != ${v.privateNet} ip daddr != ${v.upstreamAddress} ip saddr set ip saddr map @${ONE_TO_ONE_OUT} notrack comment "natns:1to1"`,
    ] : []),
    `\t}`,
    ``,
  ];
  if (v.tproxy) {
    const t = v.tproxy;
    lines.push(
      `\tchain mangle {`,
      `\t\ttype filter hook prerouting priority mangle; policy accept;`,
      `\t\tiifname "${NS_LAN}" ${t.proto} dport ${nftPorts(t.ports)} tproxy to :${t.toPort} meta mark set ${nftMark(t.mark)} accept comment "natns:tproxy"`,
      `\t}`,
      ``,
    );
  }
  if (v.forwards.length > 0) {
    lines.push(
      `\tchain prerouting {`,
      `\t\ttype nat hook prerouting priority dstnat; policy accept;`,
      ...v.forwards.map((f) => `\t\tip daddr ${v.upstreamAddress} ${f.proto} dport ${f.port} dnat to ${f.to}:${f.toPort} comment "natns:fwd:${f.owner}"`),
      `\t}`,
      ``,
    );
  }
  lines.push(
    `\tchain input {`,
    `\t\ttype filter hook input priority filter; policy drop;`,
    `\t\tct state established,related accept comment "natns:established"`,
    `\t\tiifname "lo" accept comment "natns:lo"`,
    `\t\tip protocol icmp accept comment "natns:icmp"`,
    ...serviceInputs(v, 67),
    `\t}`,
    ``,
    `\tchain forward {`,
    `\t\ttype filter hook forward priority filter; policy drop;`,
    ...v.hostAddresses.map((a) => `\t\tiifname "${NS_LAN}" ip daddr ${a} drop comment "natns:host"`),
    `\t\tct state established,related accept comment "natns:established"`,
    ...(v.oneToOne.length > 0 ? [`\t\tct state untracked accept comment "natns:1to1"`] : []),
    `\t\tiifname "${NS_LAN}" ip saddr != ${v.privateNet} drop comment "natns:antispoof"`,
    `\t\tiifname "${NS_LAN}" oifname "${NS_WAN}" ip saddr ${v.privateNet} accept comment "natns:outbound"`,
    ...(v.forwards.length > 0 ? [`\t\tct status dnat accept comment "natns:forwarded"`] : []),
    `\t}`,
    ``,
    `\tchain postrouting {`,
    `\t\ttype nat hook postrouting priority srcnat; policy accept;`,
    `\t\toifname "${NS_WAN}" ip saddr ${v.privateNet} snat to ${v.upstreamAddress} comment "natns:snat"`,
    ...(v.forwards.length > 0
      ? [`\t\toifname "${NS_LAN}" ip saddr ${v.privateNet} ct status dnat snat to ${v.privateAddress} comment "natns:hairpin"`]
      : []),
    `\t}`,
    ``,
    ...countChain(),
    `}`,
    ``,
  );
  return lines.join('\n');
}

/** The 1:1 maps of the `ip natns` table: public -> private, and private -> public. */
export const ONE_TO_ONE_IN = 'one_to_one_in';
export const ONE_TO_ONE_OUT = 'one_to_one_out';

/**
 * An address -> address map, its elements in the order nft prints them back (by key, as
 * numbers) on one line; natns unwraps nft's long element lines when it observes a table.
 */
function addressMap(name: string, pairs: [string, string][]): string[] {
  const sorted = [...pairs].sort((a, b) => compareAddresses(a[0], b[0]));
  return [
    `\tmap ${name} {`,
    `\t\ttype ipv4_addr : ipv4_addr`,
    `\t\telements = { ${sorted.map(([k, x]) => `${k} : ${x}`).join(', ')} }`,
    `\t}`,
    ``,
  ];
}

/**
 * Replace the table atomically: create-if-missing, delete, define, all in one nft transaction;
 * a dual-stack router's `ip6` table goes in the same transaction.
 */
export function nftReplaceScript(desired: DesiredRouter): string {
  // An IPv6-only router has no `ip` table: created if missing and deleted, in the same transaction.
  const v4 = `table ip ${NFT_TABLE}\ndelete table ip ${NFT_TABLE}\n${desired.nft ?? ''}`;
  return desired.nft6 === undefined ? v4 : `${v4}table ip6 ${NFT_TABLE}\ndelete table ip6 ${NFT_TABLE}\n${desired.nft6}`;
}
