import { contains, familyOf, fromBigInt, isHostAddress, subnetText, toBigInt, type Family } from '../domain/address.js';
import { InputError, NatnsError } from '../domain/errors.js';
import type { GuestOnNetwork, GuestRecord, GuestSpec, Lease, NetworkRecord, UpstreamSpec } from '../domain/model.js';
import { printable } from '../domain/text.js';
import { isGuestAddress } from '../domain/validate.js';
import { admitLease } from './admission.js';
import type { Context } from './context.js';
import { checkPortFree, forwardsOf } from './forwards.js';
import { refreshNetwork } from './network.js';

/**
 * `start begin` of a guest: check its reservations and forwards against every other owner on
 * the same networks, record them, and apply them to the networks that are running. A refusal
 * stops libvirt from starting the guest, with this message.
 */
export async function startGuest(guest: GuestSpec, ctx: Context): Promise<NetworkRecord[]> {
  return ctx.withGuestsLock(async () => {
    const records = guest.networks.map((n) => {
      const record = ctx.records.findByName(n.network);
      if (!record) {
        throw new InputError(`guest ${guest.name} uses network ${n.network}, which natns does not manage: give that network natns metadata, or remove the guest's natns entries for it`);
      }
      return { n, record };
    });
    const guests = ctx.guests.list();
    for (const { n, record } of records) checkGuestOnNetwork(guest, n, record, ctx, guests);
    for (const { n, record } of records) {
      sortPublics(guest, n, record, ctx);
      if (n.public) n.publicAddress = await leasePublic(guest, n.public, record, 'ipv4', ctx);
      if (n.public6) n.publicAddress6 = await leasePublic(guest, n.public6, record, 'ipv6', ctx);
    }
    ctx.guests.write(guest.uuid, { uuid: guest.uuid, name: guest.name, networks: guest.networks, updated: new Date().toISOString() });
    try {
      for (const { record } of records) await refreshNetwork(record, ctx);
    } catch (err) {
      ctx.guests.remove(guest.uuid);
      for (const { record } of records) await refreshNetwork(record, ctx).catch(() => undefined);
      throw err;
    }
    return records.map((r) => r.record);
  });
}

function checkGuestOnNetwork(guest: GuestSpec, n: GuestOnNetwork, record: NetworkRecord, ctx: Context, guests: GuestRecord[]): void {
  if (n.ip) {
    if (!record.private) throw new InputError(`guest ${guest.name}: address ${n.ip} is IPv4, but network ${record.name} has no IPv4 (no IPv4 <natns:private>)`);
    if (!isGuestAddress(record.private, n.ip)) {
      throw new InputError(`guest ${guest.name}: address ${n.ip} is not a free host address of network ${record.name} (${subnetText(record.private)}, gateway ${record.private.address})`);
    }
    const other = guests.find((g) => g.uuid !== guest.uuid && g.networks.some((x) => x.network === record.name && x.ip === n.ip));
    if (other) throw new InputError(`guest ${guest.name}: address ${n.ip} on network ${record.name} is already reserved for guest ${other.name}`);
  }
  if (n.ip6) {
    if (!record.private6) {
      throw new InputError(`guest ${guest.name}: address ${n.ip6} is IPv6, but network ${record.name} has no IPv6 (no IPv6 <natns:private>)`);
    }
    if (!isGuestAddress(record.private6, n.ip6)) {
      throw new InputError(`guest ${guest.name}: address ${n.ip6} is not a free host address of network ${record.name} (${subnetText(record.private6)}, gateway ${record.private6.address})`);
    }
    const other = guests.find((g) => g.uuid !== guest.uuid && g.networks.some((x) => x.network === record.name && x.ip6 === n.ip6));
    if (other) throw new InputError(`guest ${guest.name}: address ${n.ip6} on network ${record.name} is already reserved for guest ${other.name}`);
  }
  const others = forwardsOf(ctx, record, guests).filter((r) => r.owner !== `guest-${guest.uuid}`);
  for (const f of n.forwards) checkPortFree(ctx, record, others, f);
}

/**
 * <public> elements by family: an address says its own, a pool's subnet says the pool's. Each
 * needs the guest's private address of that family, and a dual-stack NAT66 network for IPv6.
 */
function sortPublics(guest: GuestSpec, n: GuestOnNetwork, record: NetworkRecord, ctx: Context): void {
  const familyOfPublic = (p: { address?: string; pool?: string }): Family => {
    if (p.address) return familyOf(p.address);
    const pool = ctx.config().pools.get(p.pool!);
    return pool ? familyOf(pool.subnet.address) : 'ipv4';
  };
  const given = [n.public, n.public6].filter((p): p is NonNullable<typeof p> => p !== undefined);
  const v4 = given.filter((p) => familyOfPublic(p) === 'ipv4');
  const v6 = given.filter((p) => familyOfPublic(p) === 'ipv6');
  if (v4.length > 1 || v6.length > 1) throw new InputError(`guest ${guest.name}: two IPv${v4.length > 1 ? 4 : 6} <public> elements for network ${record.name}; give one per family`);
  delete n.public;
  delete n.public6;
  if (v4[0]) n.public = v4[0];
  if (v6[0]) n.public6 = v6[0];
  if (n.public && !n.ip) throw new InputError(`guest ${guest.name}: a public IPv4 address on network ${record.name} needs the guest's IPv4 address there: add <natns:address network="${record.name}" ip="..."/>`);
  if (!n.public6) return;
  if (!n.ip6) throw new InputError(`guest ${guest.name}: a public IPv6 address on network ${record.name} needs the guest's IPv6 address there: add <natns:address network="${record.name}" ip="fd00::..."/>`);
  if (!record.lease6) throw new InputError(`guest ${guest.name}: a public IPv6 address on network ${record.name}, which has no IPv6`);
  if (record.lease6.mode === 'nptv6') {
    throw new InputError(`guest ${guest.name}: network ${record.name} translates its whole /64 (NPTv6), so the guest is public already as ${npt(record, n.ip6)}; drop its IPv6 <public>`);
  }
}

/** A guest's address under NPTv6: the leased prefix with the guest's interface identifier. */
function npt(record: NetworkRecord, ip6: string): string {
  const host = (1n << BigInt(128 - record.lease6!.prefix)) - 1n;
  return fromBigInt((toBigInt(record.lease6!.address) & ~host) | (toBigInt(ip6) & host), 'ipv6');
}

/**
 * A guest's own upstream address, leased under its UUID on the network's upstream bridge: it
 * stays the guest's across stops and returns to the pool only when the guest is undefined.
 */
async function leasePublic(
  guest: GuestSpec, wanted: { address?: string; pool?: string }, record: NetworkRecord, family: Family, ctx: Context,
): Promise<string> {
  const up = (family === 'ipv4' ? record.lease : record.lease6)!;
  const owner = { uuid: guest.uuid, name: guest.name, kind: 'guest' as const };
  let spec: UpstreamSpec;
  if (wanted.address) {
    const address = wanted.address;
    if (!contains(up, address) || !isHostAddress({ address, prefix: up.prefix })) {
      throw new InputError(`guest ${guest.name}: public address ${address} is outside the upstream subnet ${subnetText(up)} of network ${record.name}`);
    }
    const poolGateway = [...ctx.config().pools.values()].find((p) => p.bridge === up.bridge && p.gateway === address);
    if (address === up.gateway || address === up.address || poolGateway) {
      throw new InputError(`guest ${guest.name}: public address ${address} is ${address === up.address ? `network ${record.name}'s own upstream address` : 'the upstream gateway'}`);
    }
    spec = { kind: 'fixed', bridge: up.bridge, address, prefix: up.prefix, gateway: up.gateway };
  } else {
    const pool = ctx.config().pools.get(wanted.pool!);
    if (pool && pool.bridge !== up.bridge) {
      throw new InputError(`guest ${guest.name}: pool '${pool.name}' is on bridge ${pool.bridge}, but network ${record.name} goes upstream through ${up.bridge}`);
    }
    if (pool?.prefixLength !== undefined) throw new InputError(`guest ${guest.name}: pool '${pool.name}' hands out prefixes (NPTv6), not addresses`);
    spec = { kind: 'pool', pool: wanted.pool! };
  }
  const leased = await ctx.ipam.claim(spec, owner);
  try {
    await admitLease(leased, `guest ${guest.name}: public address`);
  } catch (err) {
    await ctx.ipam.release(leased, guest.uuid);
    throw err;
  }
  return leased.address;
}

/** `stopped end` / `release end`: the guest's forwards and reservations go; others stay. */
export async function stopGuest(guest: { uuid: string; name: string }, ctx: Context): Promise<void> {
  await ctx.withGuestsLock(async () => {
    const record = ctx.guests.read(guest.uuid);
    if (!record) return;
    ctx.guests.remove(guest.uuid);
    const errors: string[] = [];
    for (const n of record.networks) {
      const net = ctx.records.findByName(n.network);
      if (!net) continue;
      // Port records natns restored from this guest's record: libvirt sends no port event for them.
      const { ports } = ctx.network(net);
      for (const key of ports.keys().filter((k) => k.startsWith(`guest-${guest.uuid}-`))) ports.remove(key);
      await refreshNetwork(net, ctx).catch((err: Error) => errors.push(`${n.network}: ${err.message}`));
    }
    // The kernel refused, not the input: exit 1, not 2.
    if (errors.length) throw new NatnsError(`guest ${guest.name}: could not withdraw its forwards from ${errors.join('; ')}`);
  });
}

/** `natns release GUEST`: a stopped guest's public (1:1) addresses go back to their pools. */
export async function releaseGuest(ctx: Context, name: string): Promise<Lease[]> {
  const leases = (await ctx.ipam.leases()).filter((l) => l.owner.kind === 'guest' && (l.owner.name === name || l.owner.uuid === name));
  if (leases.length === 0) throw new InputError(`natns knows no network or guest '${printable(name)}' (see natns list)`);
  if (ctx.guests.read(leases[0]!.owner.uuid)) throw new InputError(`guest ${printable(name)} is running; stop it first (virsh destroy ${printable(name)})`);
  for (const l of leases) await ctx.ipam.release(l, l.owner.uuid);
  return leases;
}
