import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compareAddresses } from '../domain/address.js';
import { InputError } from '../domain/errors.js';
import type { GuestRecord, Lease, NetworkRecord } from '../domain/model.js';
import { printable } from '../domain/text.js';
import { parseLeaseFile, type DhcpLease } from '../plan/dnsmasq.js';
import type { Context } from './context.js';

/** The DHCP leases of a network's dnsmasq, each with the guest whose port carries its MAC. */
export function dhcpLeases(ctx: Context, record: NetworkRecord): { dhcp: boolean; leases: (DhcpLease & { guest?: string })[] } {
  // IPv4 DHCP when asked for; every dual-stack network runs dnsmasq (router advertisements, DHCPv6).
  const dhcp = record.dhcp !== undefined || record.private6 !== undefined;
  const handle = ctx.network(record);
  let text = '';
  try {
    text = readFileSync(join(handle.dhcpDir, 'leases'), 'utf8');
  } catch {
    // Not started yet, or no DHCP: no leases.
  }
  const vms = new Map(handle.ports.list().map((p) => [p.mac.toLowerCase(), p.vm]));
  for (const g of ctx.guests.list()) for (const n of g.networks) if (n.network === record.name) vms.set(n.mac.toLowerCase(), g.name);
  return { dhcp, leases: parseLeaseFile(text).sort((a, b) => compareAddresses(a.address, b.address)).map((l) => ({ ...l, ...(l.mac && vms.has(l.mac) ? { guest: vms.get(l.mac)! } : {}) })) };
}

export interface GuestNetworkView {
  network: string;
  mac: string;
  /** The guest's private addresses: its reservations, else what the network's DHCP gave its MAC. */
  private?: string;
  private6?: string;
  /** The network's upstream addresses, which the guest's traffic leaves with (unless it has a 1:1 address). */
  upstream?: string;
  upstream6?: string;
  forwards: { proto: string; published: string; to: string }[];
  /** 1:1 public addresses. */
  public?: string;
  public6?: string;
}

export interface GuestView {
  guest: string;
  uuid: string;
  running: boolean;
  networks: GuestNetworkView[];
  /** 1:1 addresses the guest holds in the lease store (kept while it is stopped). */
  leases: { address: string; bridge: string }[];
}

/**
 * A guest (domain) natns knows: a running guest from its qemu-hook record, a stopped one from the
 * 1:1 leases it still holds. Undefined when natns knows none by that name or UUID.
 */
export async function guestView(ctx: Context, name: string): Promise<GuestView | undefined> {
  const record = ctx.guests.list().find((g) => g.name === name || g.uuid === name);
  const held = (await ctx.ipam.leases()).filter((l) => l.owner.kind === 'guest' && (l.owner.name === name || l.owner.uuid === name || l.owner.uuid === record?.uuid));
  if (!record && held.length === 0) return undefined;
  const leases = held.map((l: Lease) => ({ address: l.address, bridge: l.bridge }));
  if (!record) return { guest: held[0]!.owner.name, uuid: held[0]!.owner.uuid, running: false, networks: [], leases };
  return { guest: record.name, uuid: record.uuid, running: true, networks: guestNetworks(ctx, record), leases };
}

function guestNetworks(ctx: Context, guest: GuestRecord): GuestNetworkView[] {
  return guest.networks.map((n) => {
    const net = ctx.records.findByName(n.network);
    const dhcp = net ? dhcpLeases(ctx, net).leases.find((l) => l.mac === n.mac.toLowerCase()) : undefined;
    const priv = n.ip ?? dhcp?.address;
    const bracket = (a: string) => (a.includes(':') ? `[${a}]` : a);
    // Forwards go to reserved addresses only (as the router's rules do).
    const forwards = n.forwards.flatMap((f) => [[n.ip, net?.lease?.address], [n.ip6, net?.lease6?.address]]
      .filter(([to, up]) => to && up)
      .map(([to, up]) => ({ proto: f.proto, published: `${bracket(up!)}:${f.port}`, to: `${bracket(to!)}:${f.toPort}` })));
    return {
      network: n.network, mac: n.mac,
      ...(priv ? { private: priv } : {}), ...(n.ip6 ? { private6: n.ip6 } : {}),
      ...(net?.lease ? { upstream: net.lease.address } : {}), ...(net?.lease6 ? { upstream6: net.lease6.address } : {}),
      forwards,
      ...(n.publicAddress ? { public: n.publicAddress } : {}), ...(n.publicAddress6 ? { public6: n.publicAddress6 } : {}),
    };
  });
}

/** The refusal for a name that is neither a network nor a guest natns knows. */
export function unknownName(ctx: Context, name: string): InputError {
  const nets = ctx.records.list().map((r) => r.name);
  const known = nets.length ? `known: ${nets.slice(0, 10).join(', ')}${nets.length > 10 ? ', ...' : ''}` : 'it manages none yet';
  return new InputError(`no network named '${printable(name)}' (${known}), nor a guest natns knows; see natns list`);
}
