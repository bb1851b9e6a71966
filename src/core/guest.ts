import { join } from 'node:path';
import { InputError } from '../errors.js';
import { formatCidr, formatIPv4, inSubnet, isHostAddress, networkOf, parseIPv4 } from '../ipv4.js';
import { resolveUpstream } from '../ipam/upstream.js';
import type { UpstreamSpec } from '../libvirt/network-xml.js';
import type { GuestDefinition, GuestOnNetwork } from '../libvirt/domain-xml.js';
import { withLock } from '../state/lock.js';
import type { GuestRecord } from '../state/guests.js';
import type { NetworkRecord } from '../state/records.js';
import type { Context } from './context.js';
import { checkPortFree, forwardsOf } from './forwards.js';
import { refreshNetwork, upstreamOf } from './network.js';

export type GuestWithNat = GuestDefinition & { networks: GuestOnNetwork[] };

/** Guest start and stop are short and rare: one lock keeps their port checks race-free. */
function guestsLock(ctx: Context): string {
  return join(ctx.lockDir, 'guests.lock');
}

/**
 * `start begin` of a guest: check its reservations and forwards against every other owner on
 * the same networks, record them, and apply them to the networks that are running. A refusal
 * stops libvirt from starting the guest, with this message.
 */
export async function startGuest(guest: GuestWithNat, ctx: Context): Promise<NetworkRecord[]> {
  return withLock(guestsLock(ctx), async () => {
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
      if (n.public) n.publicAddress = await leasePublic(guest, n, record, ctx);
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

function checkGuestOnNetwork(guest: GuestWithNat, n: GuestOnNetwork, record: NetworkRecord, ctx: Context, guests: GuestRecord[]): void {
  const gw = parseIPv4(record.private.address, 'record');
  const subnet = formatCidr(networkOf(gw, record.private.prefix), record.private.prefix);
  if (n.ip) {
    const ip = parseIPv4(n.ip, 'guest address');
    if (!inSubnet(ip, gw, record.private.prefix) || !isHostAddress(ip, record.private.prefix) || ip === gw) {
      throw new InputError(`guest ${guest.name}: address ${n.ip} is not a free host address of network ${record.name} (${subnet}, gateway ${record.private.address})`);
    }
    const other = guests.find((g) => g.uuid !== guest.uuid && g.networks.some((x) => x.network === record.name && x.ip === n.ip));
    if (other) throw new InputError(`guest ${guest.name}: address ${n.ip} on network ${record.name} is already reserved for guest ${other.name}`);
  }
  const others = forwardsOf(ctx, record, guests).filter((r) => r.owner !== `guest-${guest.uuid}`);
  for (const f of n.forwards) checkPortFree(ctx, record, others, f);
}

/**
 * A guest's own upstream address, leased under its UUID on the network's upstream bridge: it
 * stays the guest's across stops and returns to the pool only when the guest is undefined.
 */
async function leasePublic(guest: GuestWithNat, n: GuestOnNetwork, record: NetworkRecord, ctx: Context): Promise<string> {
  const up = upstreamOf(record);
  const owner = { uuid: guest.uuid, name: guest.name, kind: 'guest' as const };
  const subnet = formatCidr(networkOf(up.address, up.prefix), up.prefix);
  let spec: UpstreamSpec;
  if (n.public!.address) {
    const address = parseIPv4(n.public!.address, 'public address');
    if (!inSubnet(address, up.address, up.prefix) || !isHostAddress(address, up.prefix)) {
      throw new InputError(`guest ${guest.name}: public address ${n.public!.address} is outside the upstream subnet ${subnet} of network ${record.name}`);
    }
    if (address === up.gateway || address === up.address) {
      throw new InputError(`guest ${guest.name}: public address ${n.public!.address} is ${address === up.gateway ? 'the upstream gateway' : `network ${record.name}'s own upstream address`}`);
    }
    spec = { kind: 'fixed', bridge: up.bridge, address, prefix: up.prefix, gateway: up.gateway };
  } else {
    const pool = ctx.config().pools.get(n.public!.pool!);
    if (pool && pool.bridge !== up.bridge) {
      throw new InputError(`guest ${guest.name}: pool '${pool.name}' is on bridge ${pool.bridge}, but network ${record.name} goes upstream through ${up.bridge}`);
    }
    spec = { kind: 'pool', pool: n.public!.pool! };
  }
  const leased = await resolveUpstream(spec, owner, ctx.config(), ctx.leases, ctx.lockDir, undefined);
  return formatIPv4(leased.address);
}

/** `stopped end` / `release end`: the guest's forwards and reservations go; others stay. */
export async function stopGuest(guest: Pick<GuestDefinition, 'uuid' | 'name'>, ctx: Context): Promise<void> {
  await withLock(guestsLock(ctx), async () => {
    const record = ctx.guests.read(guest.uuid);
    if (!record) return;
    ctx.guests.remove(guest.uuid);
    const errors: string[] = [];
    for (const n of record.networks) {
      const net = ctx.records.findByName(n.network);
      if (net) await refreshNetwork(net, ctx).catch((err: Error) => errors.push(`${n.network}: ${err.message}`));
    }
    if (errors.length) throw new InputError(`guest ${guest.name}: could not withdraw its forwards from ${errors.join('; ')}`);
  });
}
