import type { InputRule, TproxySpec } from '../domain/model.js';
import { NS_LAN, NS_WAN } from '../domain/names.js';

/** Pieces of nft syntax both tables write, in the form `nft list` prints them back. */

export function nftPorts(ports: number[]): string {
  return ports.length === 1 ? String(ports[0]) : `{ ${ports.join(', ')} }`;
}

export function nftMark(mark: number): string {
  return `0x${mark.toString(16).padStart(8, '0')}`;
}

/**
 * The input chain's services after ICMP, the same in both tables but for DHCP's port (67, or
 * DHCPv6's 547): DHCP and DNS with a DHCP server, the transparent proxy, and what the admin opens.
 */
export function serviceInputs(v: { dhcp: boolean; tproxy?: TproxySpec; inputs: InputRule[] }, dhcpPort: 67 | 547): string[] {
  return [
    ...(v.dhcp ? [
      `\t\tiifname "${NS_LAN}" udp dport ${dhcpPort} accept comment "natns:dhcp"`,
      `\t\tiifname "${NS_LAN}" udp dport 53 accept comment "natns:dns"`,
      `\t\tiifname "${NS_LAN}" tcp dport 53 accept comment "natns:dns"`,
    ] : []),
    ...(v.tproxy ? [
      `\t\tiifname "${NS_LAN}" meta mark ${nftMark(v.tproxy.mark)} accept comment "natns:tproxy"`,
      `\t\tiifname "${NS_LAN}" ${v.tproxy.proto} dport ${v.tproxy.toPort} accept comment "natns:tproxy"`,
    ] : []),
    ...v.inputs.map((i) => `\t\t${i.from === 'any' ? '' : `iifname "${i.from === 'lan' ? NS_LAN : NS_WAN}" `}${i.proto} dport ${nftPorts(i.ports)} accept comment "natns:input"`),
  ];
}

/** The comments of the counting rules, for `natns metrics` to find them. */
export const COUNT_OUT = 'natns:count-out';
export const COUNT_IN = 'natns:count-in';

/**
 * Traffic each way through the router, counted before the forward chain decides (a base chain
 * of its own, one step ahead of it): guest → upstream and upstream → guest, every packet.
 * natns observes its tables stateless (`nft -s`), so the counts never read as drift.
 */
export function countChain(): string[] {
  return [
    `\tchain count {`,
    `\t\ttype filter hook forward priority filter - 1; policy accept;`,
    `\t\tiifname "${NS_LAN}" oifname "${NS_WAN}" counter comment "${COUNT_OUT}"`,
    `\t\tiifname "${NS_WAN}" oifname "${NS_LAN}" counter comment "${COUNT_IN}"`,
    `\t}`,
  ];
}

/**
 * nft prints a long set or map element list over several lines (a comma, a newline, tabs and
 * spaces); natns renders it on one. Observed tables are unwrapped before they are compared.
 */
export function unwrapElements(listed: string): string {
  return listed.replace(/,\n\t+ +(?=\S)/g, ', ');
}
