import { cidrText, subnetText } from '../domain/address.js';
import type { ForwardRule, NetworkSpec, OneToOne, PatchKind, TproxySpec, Upstream } from '../domain/model.js';
import { hostDeviceNames, namespaceName, NFT_TABLE, NS_LAN, NS_WAN, routerMac } from '../domain/names.js';

export interface RouterInput {
  network: Pick<NetworkSpec, 'name' | 'uuid' | 'bridge' | 'private' | 'tproxy' | 'patch'>;
  /** The upstream side the network holds. */
  lease: Upstream;
  /** MTUs of the two bridges, so the patches never fragment what the bridges carry. */
  mtu: { lan: number; wan: number };
  forwards?: ForwardRule[];
  /** The host's own addresses on the upstream bridge, which guests must not reach. */
  hostAddresses?: string[];
  oneToOne?: OneToOne[];
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
  address: string;
  /** The namespace end's MAC, stable per network. */
  mac: string;
}

export interface RoutePlan {
  dst: string;
  via: string;
  dev: string;
}

/** Policy routing for the transparent proxy: marked packets are delivered locally. */
export interface TproxyRouting {
  mark: number;
  table: number;
}

export interface DesiredRouter {
  network: string;
  uuid: string;
  namespace: string;
  lan: LinkPlan;
  wan: LinkPlan;
  routes: RoutePlan[];
  /** Public 1:1 addresses the namespace answers ARP for on `wan`. */
  proxyNeighbors: string[];
  tproxy?: TproxyRouting;
  sysctls: Record<string, string>;
  /** The nft table exactly as `nft list table` prints it back, so observing it is a string compare. */
  nft: string;
}

export function planRouter(input: RouterInput): DesiredRouter {
  const { network: net, lease } = input;
  const devices = hostDeviceNames(net.uuid);
  const kind = net.patch ?? 'veth';
  const oneToOne = [...(input.oneToOne ?? [])].sort((a, b) => a.public.localeCompare(b.public));
  return {
    network: net.name,
    uuid: net.uuid,
    namespace: namespaceName(net.name),
    lan: {
      kind, host: devices.lan, peer: NS_LAN, master: net.bridge, mtu: input.mtu.lan,
      address: cidrText(net.private), mac: routerMac(net.uuid, 'lan'),
    },
    wan: {
      kind, host: devices.wan, peer: NS_WAN, master: lease.bridge, mtu: input.mtu.wan,
      address: cidrText(lease), mac: routerMac(net.uuid, 'wan'),
    },
    // A 1:1 address routes towards its guest: the kernel proxy-answers ARP only for addresses
    // that route out through another interface than the one asking.
    routes: [
      { dst: 'default', via: lease.gateway, dev: NS_WAN },
      ...oneToOne.map((o) => ({ dst: o.public, via: o.private, dev: NS_LAN })),
    ],
    proxyNeighbors: oneToOne.map((o) => o.public),
    ...(net.tproxy ? { tproxy: { mark: net.tproxy.mark, table: net.tproxy.table } } : {}),
    // rp_filter off: a 1:1 guest's rewritten source arrives on `lan` although it routes via `wan`;
    // anti-spoofing is done by the nft table instead, which knows the subnets.
    sysctls: { 'net.ipv4.ip_forward': '1', 'net.ipv4.conf.all.rp_filter': '0', [`net.ipv4.conf.${NS_LAN}.rp_filter`]: '0' },
    nft: renderNft({
      network: net.name, uuid: net.uuid, privateNet: subnetText(net.private), upstreamAddress: lease.address,
      privateAddress: net.private.address, forwards: sortForwards(input.forwards ?? []),
      hostAddresses: [...(input.hostAddresses ?? [])].sort(),
      oneToOne, ...(net.tproxy ? { tproxy: net.tproxy } : {}),
    }),
  };
}

/** Forwards in a fixed order, so the same set always renders the same table. */
function sortForwards(forwards: ForwardRule[]): ForwardRule[] {
  return [...forwards].sort((a, b) => a.proto.localeCompare(b.proto) || a.port - b.port);
}

/**
 * One table owned by natns, in exactly the form `nft list table` prints it back. Forwarding is
 * closed by default: guests may go out, replies come back, and only published ports come in.
 * Guests may not use a source outside their subnet, nor reach the host's own addresses on the
 * upstream bridge.
 * Outbound traffic is SNATed to the network's own upstream address rather than masqueraded,
 * which is cheaper and never picks a wrong source. A guest reaching a published port of its own
 * network (hairpin) is SNATed to the private gateway, so the reply comes back through the router.
 */
function renderNft(v: {
  network: string; uuid: string; privateNet: string; upstreamAddress: string; privateAddress: string; forwards: ForwardRule[];
  hostAddresses: string[]; oneToOne: OneToOne[]; tproxy?: TproxySpec;
}): string {
  const lines = [
    `table ip ${NFT_TABLE} {`,
    `\tcomment "natns router for network ${v.network} (${v.uuid})"`,
  ];
  if (v.oneToOne.length > 0) {
    // Stateless 1:1 NAT: rewritten before routing and never tracked, so every protocol and both
    // directions work, and the masquerade below (a conntrack NAT hook) never sees these packets.
    lines.push(
      `\tchain raw {`,
      `\t\ttype filter hook prerouting priority raw; policy accept;`,
      ...v.oneToOne.flatMap((o) => [
        `\t\tiifname "${NS_WAN}" ip daddr ${o.public} ip daddr set ${o.private} notrack comment "natns:1to1:${o.owner}"`,
        `\t\tiifname "${NS_LAN}" ip saddr ${o.private} ip daddr != ${v.privateNet} ip saddr set ${o.public} notrack comment "natns:1to1:${o.owner}"`,
      ]),
      `\t}`,
      ``,
    );
  }
  if (v.tproxy) {
    const t = v.tproxy;
    const ports = t.ports.length === 1 ? String(t.ports[0]) : `{ ${t.ports.join(', ')} }`;
    lines.push(
      `\tchain mangle {`,
      `\t\ttype filter hook prerouting priority mangle; policy accept;`,
      `\t\tiifname "${NS_LAN}" ${t.proto} dport ${ports} tproxy to :${t.toPort} meta mark set 0x${t.mark.toString(16).padStart(8, '0')} accept comment "natns:tproxy"`,
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
    `\tchain forward {`,
    `\t\ttype filter hook forward priority filter; policy drop;`,
    `\t\tct state established,related accept comment "natns:established"`,
    ...(v.oneToOne.length > 0 ? [`\t\tct state untracked accept comment "natns:1to1"`] : []),
    `\t\tiifname "${NS_LAN}" ip saddr != ${v.privateNet} drop comment "natns:antispoof"`,
    ...v.hostAddresses.map((a) => `\t\tiifname "${NS_LAN}" ip daddr ${a} drop comment "natns:host"`),
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
    `}`,
    ``,
  );
  return lines.join('\n');
}

/** Replace the table atomically: create-if-missing, delete, define, all in one nft transaction. */
export function nftReplaceScript(desired: DesiredRouter): string {
  return `table ip ${NFT_TABLE}\ndelete table ip ${NFT_TABLE}\n${desired.nft}`;
}
