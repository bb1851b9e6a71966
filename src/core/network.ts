import { rmSync } from 'node:fs';
import { errorText, InputError, NatnsError, withContext } from '../domain/errors.js';
import { cidrText, familyOf, subnetText } from '../domain/address.js';
import { upstreamBridgeOf, upstreamText, type AdminForward, type GuestRecord, type NetworkRecord, type NetworkSpec, type Phase, type Upstream, type Upstream6 } from '../domain/model.js';
import { checkNoOverlap } from '../domain/validate.js';
import { DnsmasqError, ensureDnsmasq, seedLeases, stopDnsmasq } from '../kernel/dnsmasq.js';
import { deviceHolding, hostAddressesOn } from '../kernel/host.js';
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
import { plugGuestTaps } from './guest-taps.js';
import { agentPidFile, liveAgent, readRole, writeRole, type Role } from './role.js';

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
  // A stretch that cannot be built here is refused before any lease is taken.
  if (net.vxlan) {
    if (ctx.config().ipam.backend !== 'etcd') {
      throw new InputError(`network '${net.name}' is stretched (<natns:vxlan>): its hosts share its lease and elect its active router through etcd, but this host keeps leases in files; set "ipam": {"backend": "etcd", ...} in the host config (README, "Several hosts")`);
    }
    await underlayOf(net, ctx);
    if (liveAgent(ctx.stateDir) === undefined) {
      throw new InputError(
        `network '${net.name}' is stretched (<natns:vxlan>) and needs 'natns agent' running on this host to elect its one active router, but none runs (no live pid in ${agentPidFile(ctx.stateDir)}); start it (systemctl start natns-agent, or 'natns agent &') and start the network again`,
      );
    }
  }
  const owner = { uuid: net.uuid, name: net.name, ...(net.vxlan ? { stretched: true } : {}) };
  const lease = spec ? await ctx.ipam.claim(spec, owner, previous?.lease) : undefined;
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
  const claimed = await ctx.ipam.claim(upstreamSpec, { uuid: net.uuid, name: net.name, ...(net.vxlan ? { stretched: true } : {}) }, previous?.lease6);
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
    const previous = ctx.records.read(net.uuid);
    const { staleBridge } = admitBridges(net, previous, ctx);
    const leases = await reserve(net, ctx);
    try {
      checkpoint();
      await teardown(handle);
      checkpoint();
      if (staleBridge) await Netns.host.ipBatch([`link del ${net.bridge}`], `remove stale bridge ${net.bridge} left by an earlier failed start`);
      return ctx.records.write(recordOf(net, leases, 'starting'));
    } catch (err) {
      // A refused start keeps nothing a repair would have to clean: leases claimed just now,
      // with no record to own them, go back (those of an earlier start stay with its record).
      if (!previous) {
        if (leases.lease) await ctx.ipam.release(leases.lease, net.uuid);
        if (leases.lease6) await ctx.ipam.release(leases.lease6, net.uuid);
      }
      throw err;
    }
  });
}

export interface StartResult {
  record: NetworkRecord;
  desired: DesiredRouter;
  changes: RouterChanges;
  /** Guest interfaces plugged back into the bridge (a line each), and why some could not be. */
  guests: { plugged: string[]; error?: string };
}

/**
 * After the router: running guests' taps back into the network's bridge. A failure here is
 * reported, never a reason to take the router down (check keeps reporting the loose tap).
 */
async function reattachGuests(handle: NetworkHandle, bridge: string, ctx: Context, forgetGone: boolean): Promise<StartResult['guests']> {
  try {
    return { plugged: await plugGuestTaps(handle, bridge, ctx.guests.list(), { forgetGone }) };
  } catch (err) {
    return { plugged: [], error: errorText(err) };
  }
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
      return { record, desired, changes, guests: await reattachGuests(handle, net.bridge, ctx, true) };
    } catch (err) {
      const cleanup = await teardown(handle).then(() => undefined, (e: unknown) => e);
      try {
        ctx.records.setPhase(net.uuid, 'failed');
      } catch {
        // A full disk that failed the build fails this too; the build's error is the one to tell.
      }
      const wrapped = withContext(`network '${net.name}': building its router failed`, err);
      if (cleanup) wrapped.message += `; cleanup also failed: ${(cleanup as Error).message}`;
      throw wrapped;
    }
  });
}

/** Router, forwards and DHCP as the state says now; the caller holds the network lock. */
async function buildRouter(net: NetworkSpec, leases: Leases, ctx: Context): Promise<{ desired: DesiredRouter; changes: RouterChanges; dnsmasq: 'started' | 'unchanged' | 'none' }> {
  const handle = ctx.network(net);
  const guests = ctx.guests.list();
  const desired = await planFor(net, leases, ctx, guests);
  // A dual-stack network always runs it: its guests configure IPv6 from its router advertisements.
  // A standby router serves nothing: its DHCP starts when it becomes active, with the leases the
  // active one shared (applyRole).
  const serves = (net.dhcp !== undefined || net.private6 !== undefined) && !desired.standby;
  let dnsmasq: 'started' | 'unchanged' | 'none' = 'none';
  // Started beside the router's addresses and rules, not after them: dnsmasq binds its addresses
  // as they appear (bind-dynamic), and that takes a process start off every network start.
  const dhcp = serves
    ? async () => {
      dnsmasq = await ensureDnsmasq(handle.netns, handle.dhcpDir, planDhcp({
        network: net.name, namespace: desired.namespace, dir: handle.dhcpDir, ...(net.private ? { private: net.private } : {}),
        ...(net.dhcp ? { range: net.dhcp } : {}), ...(net.private6 ? { private6: net.private6 } : {}), reservations: reservationsOf(net, guests),
        // Over a stretch, guests must send frames the VXLAN device can carry (option 26).
        ...(desired.vxlan ? { mtu: desired.lan.mtu } : {}),
      }));
    }
    : () => stopDnsmasq(handle.dhcpDir);
  const changes = await ensureRouter(desired, handle.nftFile, dhcp);
  checkpoint();
  return { desired, changes, dnsmasq };
}

/**
 * `natns check --repair` of a network libvirt reports active: converge its router and DHCP on
 * the spec from libvirt's live XML. Unlike a start, a failure tears nothing down: libvirt calls
 * the network active whatever natns does, so removing the router would take the parts that work
 * (forwarding) down with the part that failed (often dnsmasq). The record says 'running', so
 * check keeps reporting what is still missing. `seen` is the record's `updated` from before
 * repair asked libvirt (undefined: there was none); a hook that wrote it since then is newer
 * than libvirt's answer, and the network is left to it.
 */
export async function repairNetwork(net: NetworkSpec, ctx: Context, seen: string | undefined): Promise<StartResult & { dnsmasq: 'started' | 'unchanged' | 'none' }> {
  const handle = ctx.network(net);
  return handle.withLock(async () => {
    try {
      unchangedSince(ctx, net.uuid, seen);
      const leases = await reserve(net, ctx);
      const record = ctx.records.write(recordOf(net, leases, 'running'));
      const built = await buildRouter(net, leases, ctx);
      return { record, ...built, guests: await reattachGuests(handle, net.bridge, ctx, false) };
    } catch (err) {
      const wrapped = withContext(`network '${net.name}'`, err);
      if (err instanceof DnsmasqError) wrapped.message += "; the router is left up without DHCP: fix that and run 'natns check --repair' again";
      else if (!(err instanceof Changed)) wrapped.message += "; nothing was taken down: fix that and run 'natns check --repair' again";
      throw wrapped;
    }
  });
}

class Changed extends NatnsError {}

/** Refuse to act on libvirt's answer when a hook has written the network's record since `seen`. */
function unchangedSince(ctx: Context, uuid: string, seen: string | undefined): void {
  if (ctx.records.read(uuid)?.updated !== seen) {
    throw new Changed("a libvirt hook changed it while repair ran; run 'natns check --repair' again");
  }
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

/**
 * A stretched network's VTEP address on this host and the underlay's MTU: `local` from the
 * metadata or else the host config (the network XML is the same on every host), the MTU from
 * `dev` or else from the device that holds the local address.
 */
async function underlayOf(net: NetworkSpec, ctx: Context): Promise<{ local: string; mtu: number } | undefined> {
  const v = net.vxlan;
  if (!v) return undefined;
  const local = v.local ?? ctx.config().vxlanLocal;
  if (local === undefined) {
    throw new InputError(`network '${net.name}' is stretched (<natns:vxlan>) but names no local address: add local="..." to <natns:vxlan> or set "vxlanLocal" in the host config`);
  }
  const holder = await deviceHolding(local);
  if (holder === undefined) {
    throw new InputError(`network '${net.name}': VXLAN local address ${local} is not an address of this host; give this host's own underlay address (<natns:vxlan local> or "vxlanLocal")`);
  }
  const dev = v.dev ?? holder;
  const mtu = linkMtu(dev);
  if (mtu === undefined) throw new InputError(`network '${net.name}': VXLAN underlay device ${dev} (<natns:vxlan dev>) does not exist on this host`);
  if (mtu - 50 < 576) throw new InputError(`network '${net.name}': VXLAN underlay ${dev} has MTU ${mtu}, too small to carry a stretched network (needs at least 626)`);
  return { local, mtu };
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
    ...(net.vxlan ? { underlay: (await underlayOf(net, ctx))!, standby: !readRole(ctx.stateDir, net.uuid).active } : {}),
  });
}

/**
 * The agent's switch: record this host's role for a running stretched network and converge its
 * router on it (sides and routes up or down, DHCP with them). Returns false when the network is
 * not running here (then only the role is recorded, for its next start). `leases`: the DHCP
 * leases the network's last active router shared, seeded into a router becoming active before
 * its dnsmasq starts, so it hands out none of them again.
 */
export async function applyRole(ctx: Context, uuid: string, role: Role, leases?: string): Promise<boolean> {
  const record = ctx.records.read(uuid);
  if (!record) return false;
  return ctx.network(record).withLock(async () => {
    writeRole(ctx.stateDir, uuid, role);
    const current = ctx.records.read(uuid);
    const handle = current && ctx.network(current);
    if (current?.phase !== 'running' || !handle?.netns.exists()) return false;
    if (role.active && leases !== undefined) seedLeases(handle.dhcpDir, handle.names.namespace, leases);
    await buildRouter(current, current, ctx);
    return true;
  });
}

/**
 * `stopped end`: libvirt already removed the bridge. The lease stays for the next start. From
 * repair (a network libvirt does not run), only if no hook has written the record since `seen`
 * (see repairNetwork): a start finishing right now must not lose its router.
 */
export async function stopNetwork(net: { name: string; uuid: string }, ctx: Context, repair?: { seen: string | undefined }): Promise<void> {
  const handle = ctx.network(net);
  await handle.withLock(async () => {
    if (repair) unchangedSince(ctx, net.uuid, repair.seen);
    await teardown(handle);
    checkpoint();
    removeNftFile(handle.nftFile);
    // The port records stay: libvirt sends no port event when the network goes, and its guests
    // keep running with their taps loose, to be plugged into the new bridge at the next start.
    ctx.records.setPhase(net.uuid, 'stopped');
  });
}

/** Forget a network: its lease returns to the pool. Refused while its router is up. */
/**
 * Forget a stopped network: its lease, record and admin forwards go together. An admin's
 * forwards are the one part nothing else rebuilds, so they are dropped only when the caller says
 * so (natns release --force; gc, for networks libvirt no longer defines). Returns what went.
 */
export async function releaseNetwork(record: NetworkRecord, ctx: Context, options: { dropAdminForwards: boolean }): Promise<{ adminForwards: AdminForward[] }> {
  const handle = ctx.network(record);
  return handle.withLock(async () => {
    if (handle.netns.exists()) {
      throw new InputError(`network '${record.name}' is running (namespace ${handle.names.namespace} exists); stop it first with 'virsh net-destroy ${record.name}'`);
    }
    const adminForwards = ctx.adminForwards.readOrSkip(record.uuid) ?? [];
    if (adminForwards.length > 0 && !options.dropAdminForwards) {
      const list = adminForwards.map((f) => `${f.proto} ${upstreamText(record)}:${f.port} -> ${f.to}:${f.toPort}`).join(', ');
      throw new InputError(`network '${record.name}' has ${adminForwards.length} admin forward${adminForwards.length === 1 ? '' : 's'} that would be lost with its lease (${list}); ` +
        `release it with --force to drop them, or remove them first with 'natns forward remove'`);
    }
    if (record.lease) await ctx.ipam.release(record.lease, record.uuid);
    if (record.lease6) await ctx.ipam.release(record.lease6, record.uuid);
    removeNftFile(handle.nftFile);
    rmSync(handle.dhcpDir, { recursive: true, force: true });
    rmSync(handle.ports.dir, { recursive: true, force: true });
    ctx.adminForwards.remove(record.uuid);
    ctx.records.remove(record.uuid);
    return { adminForwards };
  });
}

/** libvirt 9 leaves the bridge behind when the `started` hook fails; remove it so the next start works. */
export async function dropBridgeAfterFailedStart(bridge: string): Promise<void> {
  if (!isBridge(bridge)) return;
  await Netns.host.ipBatch([`link del ${bridge}`], `remove bridge ${bridge} after the failed start`);
}
