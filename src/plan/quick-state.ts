import { compareAddresses, type Cidr } from '../domain/address.js';
import type { Phase, Upstream, Upstream6 } from '../domain/model.js';
import { NFT_TABLE } from '../domain/names.js';

/**
 * `natns list`'s state of a network, from facts read cheaply for many networks at once (sysfs,
 * and one netlink pass over every router namespace): pure, so it is tested in memory.
 *   up       libvirt runs it (or, without libvirt's word, natns does) and its router is whole
 *   drift    part of the router differs (a side down or gone, an address, a default route or
 *            the nft table missing, dnsmasq not running), or a router stands for a network
 *            that does not run
 *   down     it should run, but its router is not there (its last start failed, or the
 *            namespace is gone)
 *   stopped  it does not run, and nothing of its router is left
 */
export type MappingState = 'up' | 'drift' | 'down' | 'stopped';

/** What libvirt says of a network: asked by the CLI only (a hook calling libvirt deadlocks it). */
export type LibvirtSays = 'active' | 'inactive' | 'undefined' | 'unknown';

/** One router namespace as netlink shows it (kernel/router-probe.py). */
export interface NamespaceProbe {
  /** Link name -> administratively up. */
  links: Record<string, boolean>;
  /** `ADDRESS/PREFIX DEVICE`, both families. */
  addrs: string[];
  /** Families with a default route in the main table. */
  defaults: ('ipv4' | 'ipv6')[];
  /** `FAMILY NAME` of each nft table. */
  tables: string[];
  /** The namespace could not be entered (gone since it was listed). */
  error?: string;
}

/** The parts of a network's record the quick comparison needs. */
export interface QuickRouter {
  private?: Cidr;
  private6?: Cidr;
  lease?: Upstream;
  lease6?: Upstream6;
}

/**
 * Every difference between the router a record plans and what the probe saw inside its
 * namespace. A stretched network's standby router (another host's is active) has both sides
 * down and no routes: a side up there is the difference.
 */
export function insideDifferences(r: QuickRouter, probe: NamespaceProbe, standby = false): string[] {
  if (probe.error) return [`its namespace cannot be read (${probe.error})`];
  const out: string[] = [];
  for (const side of ['lan', 'wan']) {
    if (!(side in probe.links)) out.push(`${side} is missing`);
    else if (!standby && !probe.links[side]) out.push(`${side} is down`);
    else if (standby && probe.links[side]) out.push(`${side} is up on a standby router`);
  }
  const held = probe.addrs.map((a) => {
    const [cidr = '', dev = ''] = a.split(' ');
    const [address = '', prefix = ''] = cidr.split('/');
    return { address, prefix: Number(prefix), dev };
  });
  const want: { c: Cidr; dev: string }[] = [
    ...(r.private ? [{ c: r.private, dev: 'lan' }] : []),
    ...(r.private6 ? [{ c: r.private6, dev: 'lan' }] : []),
    ...(r.lease ? [{ c: r.lease, dev: 'wan' }] : []),
    // NPTv6 translates a whole prefix: the router holds no address of it.
    ...(r.lease6 && r.lease6.mode !== 'nptv6' ? [{ c: r.lease6, dev: 'wan' }] : []),
  ];
  for (const { c, dev } of want) {
    const found = held.some((h) => h.dev === dev && h.prefix === c.prefix && compareAddresses(h.address, c.address) === 0);
    if (!found) out.push(`address ${c.address}/${c.prefix} on ${dev} is missing`);
  }
  if (!standby && r.lease && !probe.defaults.includes('ipv4')) out.push('the IPv4 default route is missing');
  if (!standby && r.lease6 && !probe.defaults.includes('ipv6')) out.push('the IPv6 default route is missing');
  if (r.private && !probe.tables.includes(`ip ${NFT_TABLE}`)) out.push(`nft table ip ${NFT_TABLE} is missing`);
  if (r.private6 && !probe.tables.includes(`ip6 ${NFT_TABLE}`)) out.push(`nft table ip6 ${NFT_TABLE} is missing`);
  return out;
}

/** The verdict from what libvirt says, natns's phase and what the kernel holds. */
export function mappingState(o: {
  libvirt: LibvirtSays; phase?: Phase;
  /** Anything of the router exists: its namespace or a host device. */
  present: boolean;
  /** The namespace exists. */
  namespace: boolean;
  /** Differences found (host wiring, inside the namespace, dnsmasq). */
  differences: readonly string[];
}): MappingState {
  // Without libvirt's word (or for a network it does not define) natns's own phase decides.
  const shouldRun = o.libvirt === 'active' || ((o.libvirt === 'unknown' || o.libvirt === 'undefined') && (o.phase === 'running' || o.phase === 'starting'));
  if (o.phase === 'failed' && o.libvirt !== 'inactive') return o.present ? 'drift' : 'down';
  if (!shouldRun) return o.present ? 'drift' : o.phase === 'failed' ? 'down' : 'stopped';
  if (o.phase !== 'running' || !o.namespace) return o.present ? 'drift' : 'down';
  return o.differences.length ? 'drift' : 'up';
}
