import { rmSync } from 'node:fs';
import { InputError, NatnsError, withContext } from '../domain/errors.js';
import { cidrText, familyOf, subnetText } from '../domain/address.js';
import { upstreamBridgeOf, type GuestRecord, type NetworkRecord, type NetworkSpec, type Phase, type Upstream, type Upstream6 } from '../domain/model.js';
import { checkNoOverlap } from '../domain/validate.js';
import { ensureDnsmasq, stopDnsmasq } from '../kernel/dnsmasq.js';
import { hostAddressesOn } from '../kernel/host.js';
import { Netns } from '../kernel/netns.js';
import { ensureRouter, removeNftFile, removeRouter } from '../kernel/router.js';
import { isBridge, linkExists, linkMtu } from '../kernel/sysfs.js';
import type { RouterChanges } from '../plan/diff.js';
import { planDhcp } from '../plan/dnsmasq.js';
import { patchFor } from '../plan/patches/index.js';
import { planRouter, type DesiredRouter } from '../plan/router.js';
import { checkpoint } from '../sys/checkpoint.js';
import { admitBridges, admitFixedAddress, admitLease } from './admission.js';
import type { Context, NetworkHandle } from './context.js';
import { forwardsOf, oneToOneOf, reservationsOf } from './forwards.js';

/** What a network holds upstream: its IPv4 lease, and its IPv6 one when it is dual-stack. */
export interface Leases {
  lease?: Upstream;
  lease6?: Upstream6;
}

/**
 * Validate and lease, touching no network device: what `start begin` does, so a refusal costs
 * nothing. Idempotent: the `started` step runs it again in case `start begin` never ran for us.
 */
async function reserve(net: NetworkSpec, ctx: Context): Promise<Leases & { previous?: NetworkRecord }> {
  const previous = ctx.records.read(net.uuid);
  admitFixedAddress(net, [...ctx.config().pools.values()]);
  // Both families share the router's one upstream side: the first element names its bridge.
  const first = (net.upstream ?? net.upstream6)!;
  const upstreamBridge = first.kind === 'pool' ? ctx.config().pools.get(first.pool)?.bridge : first.bridge;
  const from = first.kind === 'pool' ? `pool '${first.pool}'` : 'the network metadata';
  const patch = patchFor(net.patch);
  if (upstreamBridge !== undefined && !(patch.upstreamMustBeBridge ? isBridge(upstreamBridge) : linkExists(upstreamBridge))) {
    throw new InputError(
      `upstream bridge ${upstreamBridge} (from ${from}) ${linkExists(upstreamBridge) ? 'is not a bridge' : 'does not exist on this host'}; create it or point the network at another one`,
    );
  }
  const spec = net.upstream;
  if (spec?.kind === 'pool') {
    const pool = ctx.config().pools.get(spec.pool);
    if (pool && familyOf(pool.subnet.address) !== 'ipv4') {
      throw new InputError(`upstream pool '${pool.name}' is IPv6 (${subnetText(pool.subnet)}), but the <upstream> naming it serves the IPv4 <private> ${cidrText(net.private!)}; name an IPv4 pool`);
    }
  }
  const lease = spec ? await ctx.ipam.claim(spec, { uuid: net.uuid, name: net.name }, previous?.lease) : undefined;
  let lease6: Upstream6 | undefined;
  try {
    if (lease) {
      checkNoOverlap(net.private!, lease);
      if (previous?.lease?.address !== lease.address) await admitLease(lease, 'upstream address');
      if (!patch.hostReachable && hostAccessOf(ctx, lease) === 'allow') {
        throw new InputError(
          `${from} has "hostAccess": "allow", which a ${patch.kind} patch cannot give: the host never reaches its own macvlans' addresses; use <natns:patch type="veth"/> for this network`,
        );
      }
    } else if (previous?.lease) {
      // No longer an IPv4 network: its address goes back.
      await ctx.ipam.release(previous.lease, net.uuid);
    }
    lease6 = await reserve6(net, lease, previous, ctx);
  } catch (err) {
    if (lease && previous?.lease?.address !== lease.address) await ctx.ipam.release(lease, net.uuid);
    throw err;
  }
  return { ...(lease ? { lease } : {}), ...(lease6 ? { lease6 } : {}), ...(previous ? { previous } : {}) };
}

/**
 * The IPv6 upstream side of a dual-stack network, after its IPv4 one: from a pool of the right
 * family and kind for its mode, on the same bridge (the router has one upstream side). A network
 * that is no longer dual-stack gives its IPv6 lease back.
 */
async function reserve6(net: NetworkSpec, lease: Upstream | undefined, previous: NetworkRecord | undefined, ctx: Context): Promise<Upstream6 | undefined> {
  const spec = net.upstream6;
  if (!spec || !net.private6) {
    if (previous?.lease6) await ctx.ipam.release(previous.lease6, net.uuid);
    return undefined;
  }
  const private6 = cidrText(net.private6);
  let bridge = spec.kind === 'fixed' ? spec.bridge : undefined;
  if (spec.kind === 'pool') {
    const pool = ctx.config().pools.get(spec.pool);
    if (pool) {
      const subnet = subnetText(pool.subnet);
      if (familyOf(pool.subnet.address) !== 'ipv6') {
        throw new InputError(`upstream pool '${pool.name}' is IPv4 (${subnet}), but the <upstream> naming it serves the IPv6 <private> ${private6}; name an IPv6 pool`);
      }
      if (spec.mode === 'nptv6' && pool.prefixLength === undefined) {
        throw new InputError(`upstream pool '${pool.name}' hands out single addresses, but mode="nptv6" needs a pool of routed prefixes ("prefixLength": ${net.private6.prefix})`);
      }
      if (spec.mode === 'nat66' && pool.prefixLength !== undefined) {
        throw new InputError(`upstream pool '${pool.name}' hands out /${pool.prefixLength} prefixes, for NPTv6: add mode="nptv6" to the <upstream>, or name a pool of addresses`);
      }
      if (pool.prefixLength !== undefined && pool.prefixLength !== net.private6.prefix) {
        throw new InputError(`upstream pool '${pool.name}' hands out /${pool.prefixLength} prefixes, but NPTv6 translates the private /${net.private6.prefix} to a prefix of the same length`);
      }
      bridge = pool.bridge;
    }
  }
  if (bridge !== undefined && lease && bridge !== lease.bridge) {
    throw new InputError(`the IPv6 upstream is on bridge ${bridge} but the IPv4 one on ${lease.bridge}: a router has one upstream side, so give both the same bridge`);
  }
  const { mode, ...upstreamSpec } = spec;
  const claimed = await ctx.ipam.claim(upstreamSpec, { uuid: net.uuid, name: net.name }, previous?.lease6);
  const lease6: Upstream6 = { ...claimed, mode };
  const fresh = previous?.lease6?.address !== lease6.address;
  try {
    checkNoOverlap(net.private6, lease6);
    if (fresh) await admitLease(lease6, mode === 'nptv6' ? 'upstream IPv6 prefix' : 'upstream IPv6 address');
    if (!patchFor(net.patch).hostReachable && hostAccessOf(ctx, lease6) === 'allow') {
      throw new InputError(
        `pool '${lease6.pool}' has "hostAccess": "allow", which a ${patchFor(net.patch).kind} patch cannot give: the host never reaches its own macvlans' addresses; use <natns:patch type="veth"/> for this network`,
      );
    }
  } catch (err) {
    if (fresh) await ctx.ipam.release(lease6, net.uuid);
    throw err;
  }
  return lease6;
}

function recordOf(net: NetworkSpec, leases: Leases, phase: Phase): Omit<NetworkRecord, 'updated'> {
  return { ...net, ...(leases.lease ? { lease: leases.lease } : {}), ...(leases.lease6 ? { lease6: leases.lease6 } : {}), phase };
}

/**
 * `start begin`: libvirt has not created the bridge yet. Reserve the lease, and clear what a
 * crashed or failed earlier start left behind, including the bridge libvirt 9 does not remove
 * after a failed `started` hook (it would make this start fail with "File exists").
 */
export async function prepareNetwork(net: NetworkSpec, ctx: Context): Promise<NetworkRecord> {
  const handle = ctx.network(net);
  return handle.withLock(async () => {
    const { staleBridge } = admitBridges(net, ctx.records.read(net.uuid), ctx);
    const leases = await reserve(net, ctx);
    checkpoint();
    await teardown(handle);
    checkpoint();
    if (staleBridge) await Netns.host.ipBatch([`link del ${net.bridge}`], `remove stale bridge ${net.bridge} left by an earlier failed start`);
    return ctx.records.write(recordOf(net, leases, 'starting'));
  });
}

export interface StartResult {
  record: NetworkRecord;
  desired: DesiredRouter;
  changes: RouterChanges;
}

/** Build (or converge) the router. On failure everything it made is removed again. */
export async function startNetwork(net: NetworkSpec, ctx: Context): Promise<StartResult> {
  const handle = ctx.network(net);
  return handle.withLock(async () => {
    const leases = await reserve(net, ctx);
    checkpoint();
    ctx.records.write(recordOf(net, leases, 'starting'));
    checkpoint();
    try {
      // A router whose network changed family while it stood (a `started` without its `start
      // begin`) is rebuilt: an IPv4-only router is observed without its IPv6 side.
      const { previous } = leases;
      if (previous && (!previous.lease !== !leases.lease || !previous.lease6 !== !leases.lease6)) await teardown(handle);
      const { desired, changes } = await buildRouter(net, leases, ctx);
      checkpoint();
      const record = ctx.records.write(recordOf(net, leases, 'running'));
      return { record, desired, changes };
    } catch (err) {
      const cleanup = await teardown(handle).then(() => undefined, (e: unknown) => e);
      ctx.records.setPhase(net.uuid, 'failed');
      const wrapped = withContext(`network '${net.name}': building its router failed`, err);
      if (cleanup) wrapped.message += `; cleanup also failed: ${(cleanup as Error).message}`;
      throw wrapped;
    }
  });
}

/** Router, forwards and DHCP as the state says now; the caller holds the network lock. */
async function buildRouter(net: NetworkSpec, leases: Leases, ctx: Context): Promise<{ desired: DesiredRouter; changes: RouterChanges }> {
  const handle = ctx.network(net);
  const guests = ctx.guests.list();
  const desired = await planFor(net, leases, ctx, guests);
  const changes = await ensureRouter(desired, handle.nftFile);
  checkpoint();
  // A dual-stack network always runs it: its guests configure IPv6 from its router advertisements.
  if (net.dhcp || net.private6) {
    await ensureDnsmasq(handle.netns, handle.dhcpDir, planDhcp({
      network: net.name, namespace: desired.namespace, dir: handle.dhcpDir, ...(net.private ? { private: net.private } : {}),
      ...(net.dhcp ? { range: net.dhcp } : {}), ...(net.private6 ? { private6: net.private6 } : {}), reservations: reservationsOf(net, guests),
    }));
  } else {
    await stopDnsmasq(handle.dhcpDir);
  }
  return { desired, changes };
}

/**
 * Re-apply a running network after its forwards or guests changed. A network that is not
 * running picks the change up when it starts.
 */
export async function refreshNetwork(record: NetworkRecord, ctx: Context): Promise<void> {
  await ctx.network(record).withLock(async () => {
    const current = ctx.records.read(record.uuid);
    if (current?.phase !== 'running') return;
    await buildRouter(current, current, ctx);
  });
}

async function teardown(handle: NetworkHandle): Promise<void> {
  await stopDnsmasq(handle.dhcpDir);
  checkpoint();
  await removeRouter(handle.names);
}

/** The pool's choice; networks with a fixed upstream keep the host closed. */
export function hostAccessOf(ctx: Context, lease: Upstream): 'deny' | 'allow' {
  return (lease.pool ? ctx.config().pools.get(lease.pool)?.hostAccess : undefined) ?? 'deny';
}

/** The plan for a network, with MTUs read from its two bridges. */
export async function planFor(net: NetworkSpec, { lease, lease6 }: Leases, ctx: Context, guests: GuestRecord[] = ctx.guests.list()): Promise<DesiredRouter> {
  const lanMtu = linkMtu(net.bridge);
  if (lanMtu === undefined) throw new NatnsError(`bridge ${net.bridge} does not exist; libvirt should have created it before the 'started' hook`);
  const wanBridge = upstreamBridgeOf({ ...(lease ? { lease } : {}), ...(lease6 ? { lease6 } : {}) });
  const wanMtu = linkMtu(wanBridge);
  if (wanMtu === undefined) throw new NatnsError(`upstream bridge ${wanBridge} does not exist on this host`);
  // A patch the host cannot reach through needs no guard (and no query); each family's pool says
  // whether its guests may reach the host.
  const reachable = patchFor(net.patch).hostReachable;
  const guarded = (family: 'ipv4' | 'ipv6') => {
    const held = family === 'ipv4' ? lease : lease6;
    return reachable && held !== undefined && hostAccessOf(ctx, held) === 'deny';
  };
  const hostAddresses = guarded('ipv4') || guarded('ipv6')
    ? (await hostAddressesOn(wanBridge)).filter((a) => guarded(familyOf(a)))
    : [];
  return planRouter({
    network: net, ...(lease ? { lease } : {}), ...(lease6 ? { lease6 } : {}), mtu: { lan: lanMtu, wan: wanMtu },
    forwards: forwardsOf(ctx, net, guests),
    oneToOne: oneToOneOf(net, guests),
    hostAddresses,
  });
}

/** `stopped end`: libvirt already removed the bridge. The lease stays for the next start. */
export async function stopNetwork(net: { name: string; uuid: string }, ctx: Context): Promise<void> {
  const handle = ctx.network(net);
  await handle.withLock(async () => {
    await teardown(handle);
    checkpoint();
    removeNftFile(handle.nftFile);
    // Every guest interface left the network with it.
    rmSync(handle.ports.dir, { recursive: true, force: true });
    ctx.records.setPhase(net.uuid, 'stopped');
  });
}

/** Forget a network: its lease returns to the pool. Refused while its router is up. */
export async function releaseNetwork(record: NetworkRecord, ctx: Context): Promise<void> {
  const handle = ctx.network(record);
  await handle.withLock(async () => {
    if (handle.netns.exists()) {
      throw new InputError(`network '${record.name}' is running (namespace ${handle.names.namespace} exists); stop it first with 'virsh net-destroy ${record.name}'`);
    }
    if (record.lease) await ctx.ipam.release(record.lease, record.uuid);
    if (record.lease6) await ctx.ipam.release(record.lease6, record.uuid);
    removeNftFile(handle.nftFile);
    rmSync(handle.dhcpDir, { recursive: true, force: true });
    ctx.adminForwards.remove(record.uuid);
    ctx.records.remove(record.uuid);
  });
}

/** libvirt 9 leaves the bridge behind when the `started` hook fails; remove it so the next start works. */
export async function dropBridgeAfterFailedStart(bridge: string): Promise<void> {
  if (!isBridge(bridge)) return;
  await Netns.host.ipBatch([`link del ${bridge}`], `remove bridge ${bridge} after the failed start`);
}
