import { netmask, networkAddress, type Cidr } from '../domain/address.js';
import type { DhcpRange, DhcpReservation } from '../domain/model.js';
import { NS_LAN } from '../domain/names.js';

/**
 * dnsmasq drops root after start-up and re-reads its hosts file on SIGHUP as this user and
 * group, so that file (and the way to it) is readable by the group; everything else of natns's
 * state stays root's (README, "State files"). Named here rather than left to dnsmasq's built-in
 * default (nobody and group dip), so the folder's group and dnsmasq's agree.
 */
export const DNSMASQ_USER = 'nobody';
export const DNSMASQ_GROUP = 'nogroup';

export interface DhcpPlan {
  conf: string;
  hosts: string;
}

/**
 * dnsmasq for one network, inside its namespace: bound to the private side only (`lan`, never
 * `wan`, never loopback), the namespace's gateway as router and DNS server. Reservations live
 * in a hosts file that dnsmasq re-reads on SIGHUP, so guests come and go without a restart.
 * IPv4 DHCP with a range (<natns:dhcp>); on a dual-stack network, always router advertisements
 * (SLAAC), DHCPv6 for reserved guests only, and DNS on the IPv6 gateway.
 */
export function planDhcp(v: {
  network: string; namespace: string; dir: string;
  private?: Cidr; range?: DhcpRange;
  private6?: Cidr;
  reservations: DhcpReservation[];
  /** The interface MTU guests must use (DHCP option 26); absent: not sent. */
  mtu?: number;
}): DhcpPlan {
  const gw = v.private?.address;
  const conf = [
    `# natns: DHCP and DNS for network ${v.network} in namespace ${v.namespace} (generated; edits are overwritten)`,
    `interface=${NS_LAN}`,
    'except-interface=lo',
    // Like bind-interfaces (its own addresses only), but it may start before they exist.
    'bind-dynamic',
    ...(v.range ? [
      `listen-address=${gw}`,
      `dhcp-range=${v.range.start},${v.range.end},${netmask(v.private!.prefix)},1h`,
      `dhcp-option=option:router,${gw}`,
      `dhcp-option=option:dns-server,${gw}`,
      ...(v.mtu !== undefined ? [`dhcp-option=option:mtu,${v.mtu}`] : []),
    ] : []),
    ...(v.private6 ? ipv6Lines(v.private6) : []),
    'dhcp-authoritative',
    'no-hosts',
    `dhcp-leasefile=${v.dir}/leases`,
    `dhcp-hostsfile=${v.dir}/hosts`,
    `pid-file=${v.dir}/dnsmasq.pid`,
    `user=${DNSMASQ_USER}`,
    `group=${DNSMASQ_GROUP}`,
    '',
  ].join('\n');
  const hosts = [...v.reservations]
    .sort((a, b) => a.mac.localeCompare(b.mac))
    .map((r) => [r.mac, ...(r.ip ? [r.ip] : []), ...(r.ip6 ? [`[${r.ip6}]`] : [])].join(',') + '\n')
    .join('');
  return { conf, hosts };
}

/**
 * Router advertisements from the router's link-local address with the /64 on-link and
 * autonomous (SLAAC) and the gateway as DNS server (RDNSS); DHCPv6 hands out only reserved
 * addresses (`static`), so a reserved guest gets its address both ways and others keep SLAAC.
 */
function ipv6Lines(p: Cidr): string[] {
  return [
    `listen-address=${p.address}`,
    'enable-ra',
    `dhcp-range=${networkAddress(p)},static,slaac,${p.prefix},1h`,
    `dhcp-option=option6:dns-server,[${p.address}]`,
  ];
}

/** MAC → address from a dnsmasq leases file ("expiry mac ip name clientid" per line). */
export function parseLeases(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const [, mac, ip] = line.trim().split(/\s+/);
    if (mac && ip) out.set(mac.toLowerCase(), ip);
  }
  return out;
}

/** One lease of a dnsmasq leases file. */
export interface DhcpLease {
  address: string;
  /** DHCPv4: the client's MAC; DHCPv6 leases name the client by its DUID instead. */
  mac?: string;
  hostname?: string;
  /** When it ends (ISO time), or undefined for a lease that never ends. */
  expires?: string;
  /** The client id (DHCPv4) or DUID (DHCPv6), as dnsmasq wrote it. */
  client?: string;
}

/**
 * Every lease of a dnsmasq leases file: "expiry mac ip hostname clientid" per IPv4 lease; after a
 * "duid SERVER-DUID" line, "expiry iaid ip hostname client-duid" per IPv6 lease. "*" is unknown,
 * expiry 0 never ends.
 */
export function parseLeaseFile(text: string): DhcpLease[] {
  const out: DhcpLease[] = [];
  for (const line of text.split('\n')) {
    const [expiry, id, address, hostname, client] = line.trim().split(/\s+/);
    if (!expiry || expiry === 'duid' || !id || !address || !/^\d+$/.test(expiry)) continue;
    const known = (v: string | undefined) => (v && v !== '*' ? v : undefined);
    const seconds = Number(expiry);
    out.push({
      address,
      ...(address.includes(':') ? {} : { mac: id.toLowerCase() }),
      ...(known(hostname) ? { hostname: hostname! } : {}),
      ...(seconds > 0 ? { expires: new Date(seconds * 1000).toISOString() } : {}),
      ...(known(client) ? { client: client! } : {}),
    });
  }
  return out;
}

/**
 * One leases file from two: this host's and the one the active router last shared through etcd
 * (a stretched network's DHCP moves with its router). A MAC keeps its entry with the later
 * expiry (0: infinite), and an address held by two MACs goes to the later one too, so the new
 * server never hands out what the old one leased. Order: by expiry, as dnsmasq does not mind.
 */
export function mergeLeases(local: string, shared: string): string {
  const expiry = (line: string) => {
    const t = Number(line.split(/\s+/)[0]);
    return t === 0 ? Infinity : t;
  };
  // IPv4 entries ("expiry mac ip name clientid") are merged; other lines (DHCPv6) stay local.
  const ipv4 = (l: string) => /^\d+ [0-9a-f]{2}(:[0-9a-f]{2}){5} \d+\.\d+\.\d+\.\d+ /i.test(l);
  const lines = (text: string) => text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const others = lines(local).filter((l) => !ipv4(l));
  const entries = [...lines(local), ...lines(shared)].filter(ipv4).sort((x, y) => expiry(y) - expiry(x));
  const macs = new Set<string>();
  const ips = new Set<string>();
  const kept: string[] = [];
  for (const line of entries) {
    const [, mac, ip] = line.split(/\s+/) as [string, string, string];
    if (macs.has(mac.toLowerCase()) || ips.has(ip)) continue;
    macs.add(mac.toLowerCase());
    ips.add(ip);
    kept.push(line);
  }
  return [...others, ...kept.reverse()].map((l) => `${l}\n`).join('');
}
