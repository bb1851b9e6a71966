import { join } from 'node:path';
import { InputError, NatnsError, withContext } from '../errors.js';
import { formatIPv4, parseIPv4 } from '../ipv4.js';
import { checkNoOverlap, releaseLease, resolveUpstream } from '../ipam/upstream.js';
import { ipBatch } from '../kernel/ip.js';
import { run } from '../kernel/exec.js';
import { ensureRouter, removeNftFile, removeRouter, routerNames } from '../kernel/router.js';
import { bridgePorts, isBridge, linkExists, linkMtu, namespaceExists } from '../kernel/sysfs.js';
import type { NatSpec, NetworkDefinition } from '../libvirt/network-xml.js';
import type { RouterChanges } from '../plan/diff.js';
import { isNatnsHostDevice } from '../plan/names.js';
import { planRouter, type DesiredRouter, type Upstream } from '../plan/router.js';
import { withLock } from '../state/lock.js';
import { checkpoint } from './checkpoint.js';
import type { NetworkRecord } from '../state/records.js';
import type { Context } from './context.js';
import { forwardsOf, oneToOneOf, reservationsOf } from './forwards.js';
import { ensureDnsmasq, stopDnsmasq } from '../kernel/dnsmasq.js';
import { planDhcp } from '../plan/dnsmasq.js';
import { rmSync } from 'node:fs';

/** A network that carries natns metadata. */
export type NatNetwork = NetworkDefinition & { nat: NatSpec };

function networkLock(ctx: Context, uuid: string): string {
  return join(ctx.lockDir, `network-${uuid}.lock`);
}

export function upstreamOf(record: NetworkRecord): Upstream {
  const u = record.upstream;
  return {
    bridge: u.bridge, address: parseIPv4(u.address, 'record'), prefix: u.prefix,
    gateway: parseIPv4(u.gateway, 'record'), ...(u.pool ? { pool: u.pool } : {}),
  };
}

/**
 * Validate and lease, touching no network device: what `start begin` does, so a refusal costs
 * nothing. Idempotent: the `started` step runs it again in case `start begin` never ran for us.
 */
async function reserve(net: NatNetwork, ctx: Context): Promise<{ upstream: Upstream; previous?: NetworkRecord }> {
  const previous = ctx.records.read(net.uuid);
  const spec = net.nat.upstream;
  const upstreamBridge = spec.kind === 'pool' ? ctx.config().pools.get(spec.pool)?.bridge : spec.bridge;
  const from = spec.kind === 'pool' ? `pool '${spec.pool}'` : 'the network metadata';
  // A macvlan may hang off a NIC as well as a bridge; a veth's host end needs a bridge to join.
  const macvlan = net.nat.patch === 'macvlan';
  if (upstreamBridge !== undefined && !(macvlan ? linkExists(upstreamBridge) : isBridge(upstreamBridge))) {
    throw new InputError(
      `upstream bridge ${upstreamBridge} (from ${from}) ${linkExists(upstreamBridge) ? 'is not a bridge' : 'does not exist on this host'}; create it or point the network at another one`,
    );
  }
  const upstream = await resolveUpstream(
    spec, { uuid: net.uuid, name: net.name }, ctx.config(), ctx.leases, ctx.lockDir,
    previous ? upstreamOf(previous) : undefined,
  );
  try {
    checkNoOverlap(net.nat.private, upstream);
    if (macvlan && hostAccessOf(ctx, upstream) === 'allow') {
      throw new InputError(
        `${from} has "hostAccess": "allow", which a macvlan patch cannot give: the host never reaches its own macvlans' addresses; use <natns:patch type="veth"/> for this network`,
      );
    }
  } catch (err) {
    if (!previous) await releaseLease(ctx.leases, ctx.lockDir, upstream.bridge, upstream.address, net.uuid);
    throw err;
  }
  return { upstream, ...(previous ? { previous } : {}) };
}

function recordFor(net: NatNetwork, upstream: Upstream, phase: NetworkRecord['phase']): Omit<NetworkRecord, 'updated'> {
  return {
    uuid: net.uuid,
    name: net.name,
    bridge: net.bridge,
    namespace: routerNames(net.name, net.uuid).namespace,
    private: { address: formatIPv4(net.nat.private.address), prefix: net.nat.private.prefix },
    upstream: {
      address: formatIPv4(upstream.address), prefix: upstream.prefix, bridge: upstream.bridge,
      gateway: formatIPv4(upstream.gateway), ...(upstream.pool ? { pool: upstream.pool } : {}),
    },
    ...(net.nat.dhcp ? { dhcp: { start: formatIPv4(net.nat.dhcp.start), end: formatIPv4(net.nat.dhcp.end) } } : {}),
    ...(net.nat.tproxy ? { tproxy: net.nat.tproxy } : {}),
    ...(net.nat.patch ? { patch: net.nat.patch } : {}),
    phase,
  };
}

/** The network as its record describes it, for re-applying a running network's router. */
export function networkFromRecord(record: NetworkRecord): NatNetwork {
  const upstream = upstreamOf(record);
  return {
    name: record.name,
    uuid: record.uuid,
    bridge: record.bridge,
    nat: {
      private: { address: parseIPv4(record.private.address, 'record'), prefix: record.private.prefix },
      upstream: { kind: 'fixed', bridge: upstream.bridge, address: upstream.address, prefix: upstream.prefix, gateway: upstream.gateway },
      ...(record.dhcp ? { dhcp: { start: parseIPv4(record.dhcp.start, 'record'), end: parseIPv4(record.dhcp.end, 'record') } } : {}),
      ...(record.tproxy ? { tproxy: record.tproxy } : {}),
      ...(record.patch ? { patch: record.patch } : {}),
    },
  };
}

/**
 * `start begin`: libvirt has not created the bridge yet. Reserve the lease, and clear what a
 * crashed or failed earlier start left behind, including the bridge libvirt 9 does not remove
 * after a failed `started` hook (it would make this start fail with "File exists").
 */
export async function prepareNetwork(net: NatNetwork, ctx: Context): Promise<NetworkRecord> {
  return withLock(networkLock(ctx, net.uuid), async () => {
    const { upstream, previous } = await reserve(net, ctx);
    checkpoint();
    await teardown(net, ctx);
    checkpoint();
    if (linkExists(net.bridge)) {
      const foreign = bridgePorts(net.bridge).filter((p) => !isNatnsHostDevice(p));
      if (previous?.bridge !== net.bridge || !isBridge(net.bridge) || foreign.length > 0) {
        throw new InputError(
          `bridge ${net.bridge} already exists and was not left behind by natns for this network${foreign.length ? ` (ports: ${foreign.join(', ')})` : ''}, so libvirt cannot create it; remove it (ip link del ${net.bridge}) or give the network another bridge name`,
        );
      }
      await ipBatch([`link del ${net.bridge}`], `remove stale bridge ${net.bridge} left by an earlier failed start`);
    }
    return ctx.records.write(recordFor(net, upstream, 'starting'));
  });
}

export interface StartResult {
  record: NetworkRecord;
  desired: DesiredRouter;
  changes: RouterChanges;
}

/** Build (or converge) the router. On failure everything it made is removed again. */
export async function startNetwork(net: NatNetwork, ctx: Context): Promise<StartResult> {
  return withLock(networkLock(ctx, net.uuid), async () => {
    const { upstream } = await reserve(net, ctx);
    checkpoint();
    ctx.records.write(recordFor(net, upstream, 'starting'));
    checkpoint();
    try {
      const { desired, changes } = await buildRouter(net, upstream, ctx);
      checkpoint();
      const record = ctx.records.write(recordFor(net, upstream, 'running'));
      return { record, desired, changes };
    } catch (err) {
      const cleanup = await teardown(net, ctx).then(() => undefined, (e: unknown) => e);
      ctx.records.setPhase(net.uuid, 'failed');
      const wrapped = withContext(`network '${net.name}': building its router failed`, err);
      if (cleanup) wrapped.message += `; cleanup also failed: ${(cleanup as Error).message}`;
      throw wrapped;
    }
  });
}

/** Router, forwards and DHCP as the state says now; the caller holds the network lock. */
async function buildRouter(net: NatNetwork, upstream: Upstream, ctx: Context): Promise<{ desired: DesiredRouter; changes: RouterChanges }> {
  const guests = ctx.guests.list();
  const desired = await planFor(net, upstream, ctx, guests);
  const changes = await ensureRouter(desired, ctx.nftFile(net.uuid));
  checkpoint();
  const dir = ctx.dhcpDir(net.uuid);
  if (net.nat.dhcp) {
    await ensureDnsmasq(desired.namespace, dir, planDhcp({
      network: net.name, namespace: desired.namespace, dir, gateway: net.nat.private.address, prefix: net.nat.private.prefix,
      range: net.nat.dhcp, reservations: reservationsOf(ctx, net, guests),
    }));
  } else {
    await stopDnsmasq(dir);
  }
  return { desired, changes };
}

/**
 * Re-apply a running network after its forwards or guests changed. A network that is not
 * running picks the change up when it starts.
 */
export async function refreshNetwork(record: NetworkRecord, ctx: Context): Promise<void> {
  await withLock(networkLock(ctx, record.uuid), async () => {
    const current = ctx.records.read(record.uuid);
    if (current?.phase !== 'running') return;
    await buildRouter(networkFromRecord(current), upstreamOf(current), ctx);
  });
}

async function teardown(net: Pick<NetworkDefinition, 'name' | 'uuid'>, ctx: Context): Promise<void> {
  await stopDnsmasq(ctx.dhcpDir(net.uuid));
  checkpoint();
  await removeRouter(routerNames(net.name, net.uuid));
}

/** The pool's choice; networks with a fixed upstream keep the host closed. */
export function hostAccessOf(ctx: Context, upstream: Upstream): 'deny' | 'allow' {
  return (upstream.pool ? ctx.config().pools.get(upstream.pool)?.hostAccess : undefined) ?? 'deny';
}

/**
 * IPv4 addresses of the host namespace on `bridge`. Asked of that one device: enumerating every
 * interface (os.networkInterfaces) took 160 ms with 800 routers' veths on the host.
 */
export async function hostAddressesOn(bridge: string): Promise<string[]> {
  const r = await run('ip', ['-j', '-4', 'addr', 'show', 'dev', bridge]);
  if (r.exitCode !== 0) return [];
  const links = JSON.parse(r.stdout || '[]') as { addr_info?: { local: string }[] }[];
  return links.flatMap((l) => (l.addr_info ?? []).map((a) => a.local));
}

/** The plan for a network, with MTUs read from its two bridges. */
export async function planFor(net: NatNetwork, upstream: Upstream, ctx: Context, guests = ctx.guests.list()): Promise<DesiredRouter> {
  const lanMtu = linkMtu(net.bridge);
  if (lanMtu === undefined) throw new NatnsError(`bridge ${net.bridge} does not exist; libvirt should have created it before the 'started' hook`);
  const wanMtu = linkMtu(upstream.bridge);
  if (wanMtu === undefined) throw new NatnsError(`upstream bridge ${upstream.bridge} does not exist on this host`);
  return planRouter({
    name: net.name, uuid: net.uuid, bridge: net.bridge, private: net.nat.private, upstream, mtu: { lan: lanMtu, wan: wanMtu },
    forwards: forwardsOf(ctx, net, guests),
    oneToOne: oneToOneOf(ctx, net, guests),
    // A macvlan never reaches its lower's host addresses, so it needs no guard (and no query).
    hostAddresses: hostAccessOf(ctx, upstream) === 'allow' || net.nat.patch === 'macvlan' ? [] : await hostAddressesOn(upstream.bridge),
    ...(net.nat.tproxy ? { tproxy: net.nat.tproxy } : {}),
    ...(net.nat.patch ? { patch: net.nat.patch } : {}),
  });
}

/** `stopped end`: libvirt already removed the bridge. The lease stays for the next start. */
export async function stopNetwork(net: Pick<NetworkDefinition, 'name' | 'uuid'>, ctx: Context): Promise<void> {
  await withLock(networkLock(ctx, net.uuid), async () => {
    await teardown(net, ctx);
    checkpoint();
    removeNftFile(ctx.nftFile(net.uuid));
    // Every guest interface left the network with it.
    rmSync(ctx.ports(net.uuid).dir, { recursive: true, force: true });
    ctx.records.setPhase(net.uuid, 'stopped');
  });
}

/** Forget a network: its lease returns to the pool. Refused while its router is up. */
export async function releaseNetwork(record: NetworkRecord, ctx: Context): Promise<void> {
  await withLock(networkLock(ctx, record.uuid), async () => {
    if (namespaceExists(record.namespace)) {
      throw new InputError(`network '${record.name}' is running (namespace ${record.namespace} exists); stop it first with 'virsh net-destroy ${record.name}'`);
    }
    const up = upstreamOf(record);
    await releaseLease(ctx.leases, ctx.lockDir, up.bridge, up.address, record.uuid);
    removeNftFile(ctx.nftFile(record.uuid));
    rmSync(ctx.dhcpDir(record.uuid), { recursive: true, force: true });
    ctx.adminForwards.remove(record.uuid);
    ctx.records.remove(record.uuid);
  });
}

/** libvirt 9 leaves the bridge behind when the `started` hook fails; remove it so the next start works. */
export async function dropBridgeAfterFailedStart(bridge: string): Promise<void> {
  if (!isBridge(bridge)) return;
  await ipBatch([`link del ${bridge}`], `remove bridge ${bridge} after the failed start`);
}
