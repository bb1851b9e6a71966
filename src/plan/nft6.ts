import { fromBigInt, subnetText, toBigInt, type Cidr } from '../domain/address.js';
import type { ForwardRule, InputRule, OneToOne, TproxySpec, Upstream6 } from '../domain/model.js';
import { NFT_TABLE, NS_LAN, NS_WAN } from '../domain/names.js';
import { countChain, nftMark, nftPorts, serviceInputs } from './nft-text.js';

/**
 * The `ip6 natns` table of a dual-stack router, in exactly the form `nft list table` prints it
 * back. It mirrors the IPv4 table (see renderNft in router.ts) rule for rule, with what IPv6
 * adds:
 * - input: ICMPv6 is what neighbour discovery and path-MTU discovery run on, so it is accepted
 *   from both sides, except router advertisements and redirects, which are dropped: nothing a
 *   guest or the upstream says may change the router's routes (forwarding and accept_ra 0 say
 *   the same to the kernel). DHCPv6 and DNS from the guests, for the namespace's dnsmasq.
 * - nat66: SNAT to the network's own upstream IPv6 address, as for IPv4.
 * - nptv6: the private /64 and the leased /64 are rewritten into each other in the raw chain,
 *   prefix only (the interface identifier stays), untracked: stateless like the IPv4 1:1 NAT, so
 *   it works for connections opened from either side. nft has no checksum-neutral NPT (RFC 6296);
 *   it rewrites the address and fixes the transport checksum instead.
 */
export function renderNft6(v: {
  network: string; uuid: string; private6: Cidr; lease6: Upstream6; forwards: ForwardRule[];
  hostAddresses: string[]; oneToOne: OneToOne[]; tproxy?: TproxySpec; dhcp: boolean; inputs: InputRule[];
}): string {
  const priv = subnetText(v.private6);
  const nptv6 = v.lease6.mode === 'nptv6';
  const leased = subnetText(v.lease6);
  const upstream = v.lease6.address;
  const lines = [
    `table ip6 ${NFT_TABLE} {`,
    `\tcomment "natns router for network ${v.network} (${v.uuid})"`,
    `\tchain raw {`,
    `\t\ttype filter hook prerouting priority raw; policy accept;`,
    // One rule per source, as in the IPv4 table.
    ...[priv, nptv6 ? leased : upstream, ...v.oneToOne.map((o) => o.public)].map((a) => `\t\tiifname "${NS_WAN}" ip6 saddr ${a} drop comment "natns:antispoof-wan"`),
    // 1:1 guests, stateless as in the IPv4 table.
    ...v.oneToOne.flatMap((o) => [
      `\t\tiifname "${NS_WAN}" ip6 daddr ${o.public} ip6 daddr set ${o.private} notrack comment "natns:1to1:${o.owner}"`,
      `\t\tiifname "${NS_LAN}" ip6 saddr ${o.private} ip6 daddr != ${priv} ${LINK_SCOPE} ip6 daddr != ${upstream} ip6 saddr set ${o.public} notrack comment "natns:1to1:${o.owner}"`,
    ]),
    ...(nptv6 ? [
      `\t\tiifname "${NS_WAN}" ip6 daddr ${leased} ip6 daddr set ${prefixRewrite('daddr', v.private6)} notrack comment "natns:nptv6"`,
      `\t\tiifname "${NS_LAN}" ip6 saddr ${priv} ip6 daddr != ${priv} ${LINK_SCOPE} ip6 saddr set ${prefixRewrite('saddr', v.lease6)} notrack comment "natns:nptv6"`,
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
  // NPTv6 publishes every guest already; forwards are for the shared NAT66 address.
  const forwards = nptv6 ? [] : v.forwards;
  if (forwards.length > 0) {
    lines.push(
      `\tchain prerouting {`,
      `\t\ttype nat hook prerouting priority dstnat; policy accept;`,
      ...forwards.map((f) => `\t\tip6 daddr ${upstream} ${f.proto} dport ${f.port} dnat to [${f.to}]:${f.toPort} comment "natns:fwd:${f.owner}"`),
      `\t}`,
      ``,
    );
  }
  lines.push(
    `\tchain input {`,
    `\t\ttype filter hook input priority filter; policy drop;`,
    `\t\tct state established,related accept comment "natns:established"`,
    `\t\tiifname "lo" accept comment "natns:lo"`,
    `\t\ticmpv6 type { nd-router-advert, nd-redirect } drop comment "natns:ra-guard"`,
    `\t\tmeta l4proto ipv6-icmp accept comment "natns:icmp"`,
    ...serviceInputs(v, 547),
    `\t}`,
    ``,
    `\tchain forward {`,
    `\t\ttype filter hook forward priority filter; policy drop;`,
    ...v.hostAddresses.map((a) => `\t\tiifname "${NS_LAN}" ip6 daddr ${a} drop comment "natns:host"`),
    `\t\tct state established,related accept comment "natns:established"`,
    ...(nptv6 ? [`\t\tct state untracked accept comment "natns:nptv6"`] : v.oneToOne.length > 0 ? [`\t\tct state untracked accept comment "natns:1to1"`] : []),
    `\t\tiifname "${NS_LAN}" ip6 saddr != ${priv} drop comment "natns:antispoof"`,
    `\t\tiifname "${NS_LAN}" oifname "${NS_WAN}" ip6 saddr ${priv} accept comment "natns:outbound"`,
    ...(forwards.length > 0 ? [`\t\tct status dnat accept comment "natns:forwarded"`] : []),
    `\t}`,
    ``,
  );
  if (!nptv6) {
    lines.push(
      `\tchain postrouting {`,
      `\t\ttype nat hook postrouting priority srcnat; policy accept;`,
      `\t\toifname "${NS_WAN}" ip6 saddr ${priv} snat to ${upstream} comment "natns:snat"`,
      ...(forwards.length > 0 ? [`\t\toifname "${NS_LAN}" ip6 saddr ${priv} ct status dnat snat to ${v.private6.address} comment "natns:hairpin"`] : []),
      `\t}`,
      ``,
    );
  }
  lines.push(...countChain(), `}`, ``);
  return lines.join('\n');
}

/**
 * What a guest sends to link-local and multicast destinations (neighbour solicitations from its
 * global address among them) stays on the link, so a source rewrite must never touch it: the
 * router would answer the rewritten address, out of the wrong side.
 */
const LINK_SCOPE = 'ip6 daddr != fe80::/10 ip6 daddr != ff00::/8';

/**
 * `ip6 saddr & MASK | PREFIX`, the prefix swapped and the interface identifier kept, as nft
 * prints it back: it folds the prefix into the mask it shows.
 */
function prefixRewrite(field: 'saddr' | 'daddr', to: Cidr): string {
  const host = (1n << BigInt(128 - to.prefix)) - 1n;
  const prefix = toBigInt(to.address) & ~host;
  return `ip6 ${field} & ${fromBigInt(prefix | host, 'ipv6')} | ${fromBigInt(prefix, 'ipv6')}`;
}
