import { rmSync } from 'node:fs';
import { InputError, NatnsError, withContext } from '../domain/errors.js';
import type { GuestRecord, NetworkRecord, NetworkSpec, Phase, Upstream } from '../domain/model.js';
import { checkNoOverlap } from '../domain/validate.js';
import { DnsmasqError, ensureDnsmasq, stopDnsmasq } from '../kernel/dnsmasq.js';
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
import { agentPidFile, liveAgent, readRole, writeRole, type Role } from './role.js';

/**
 * Validate and lease, touching no network device: what `start begin` does, so a refusal costs
 * nothing. Idempotent: the `started` step runs it again in case `start begin` never ran for us.
 */
async function reserve(net: NetworkSpec, ctx: Context): Promise<{ lease: Upstream; previous?: NetworkRecord }> {
  const previous = ctx.records.read(net.uuid);
  admitFixedAddress(net, [...ctx.config().pools.values()]);
  const spec = net.upstream;
  const upstreamBridge = spec.kind === 'pool' ? ctx.config().pools.get(spec.pool)?.bridge : spec.bridge;
  const from = spec.kind === 'pool' ? `pool '${spec.pool}'` : 'the network metadata';
  const patch = patchFor(net.patch);
  if (upstreamBridge !== undefined && !(patch.upstreamMustBeBridge ? isBridge(upstreamBridge) : linkExists(upstreamBridge))) {
    throw new InputError(
      `upstream bridge ${upstreamBridge} (from ${from}) ${linkExists(upstreamBridge) ? 'is not a bridge' : 'does not exist on this host'}; create it or point the network at another one`,
    );
  }
  // A stretch that cannot be built here is refused before any lease is taken.
  if (net.vxlan) {
    await underlayOf(net, ctx);
    if (liveAgent(ctx.stateDir) === undefined) {
      throw new InputError(
        `network '${net.name}' is stretched (<natns:vxlan>) and needs 'natns agent' running on this host to elect its one active router, but none runs (no live pid in ${agentPidFile(ctx.stateDir)}); start it (systemctl start natns-agent, or 'natns agent &') and start the network again`,
      );
    }
  }
  const lease = await ctx.ipam.claim(spec, { uuid: net.uuid, name: net.name, ...(net.vxlan ? { stretched: true } : {}) }, previous?.lease);
  try {
    checkNoOverlap(net.private, lease);
    if (!previous || previous.lease.address !== lease.address) await admitLease(lease, 'upstream address');
    if (!patch.hostReachable && hostAccessOf(ctx, lease) === 'allow') {
      throw new InputError(
        `${from} has "hostAccess": "allow", which a ${patch.kind} patch cannot give: the host never reaches its own macvlans' addresses; use <natns:patch type="veth"/> for this network`,
      );
    }
  } catch (err) {
    if (!previous) await ctx.ipam.release(lease, net.uuid);
    throw err;
  }
  return { lease, ...(previous ? { previous } : {}) };
}

function recordOf(net: NetworkSpec, lease: Upstream, phase: Phase): Omit<NetworkRecord, 'updated'> {
  return { ...net, lease, phase };
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
    const { lease } = await reserve(net, ctx);
    try {
      checkpoint();
      await teardown(handle);
      checkpoint();
      if (staleBridge) await Netns.host.ipBatch([`link del ${net.bridge}`], `remove stale bridge ${net.bridge} left by an earlier failed start`);
      return ctx.records.write(recordOf(net, lease, 'starting'));
    } catch (err) {
      // A refused start keeps nothing a repair would have to clean: a lease claimed just now,
      // with no record to own it, goes back (one from an earlier start stays with its record).
      if (!previous) await ctx.ipam.release(lease, net.uuid);
      throw err;
    }
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
    const { lease } = await reserve(net, ctx);
    checkpoint();
    ctx.records.write(recordOf(net, lease, 'starting'));
    checkpoint();
    try {
      const { desired, changes } = await buildRouter(net, lease, ctx);
      checkpoint();
      const record = ctx.records.write(recordOf(net, lease, 'running'));
      return { record, desired, changes };
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
async function buildRouter(net: NetworkSpec, lease: Upstream, ctx: Context): Promise<{ desired: DesiredRouter; changes: RouterChanges; dnsmasq: 'started' | 'unchanged' | 'none' }> {
  const handle = ctx.network(net);
  const guests = ctx.guests.list();
  const desired = await planFor(net, lease, ctx, guests);
  const changes = await ensureRouter(desired, handle.nftFile);
  checkpoint();
  if (!net.dhcp) {
    await stopDnsmasq(handle.dhcpDir);
    return { desired, changes, dnsmasq: 'none' };
  }
  const dnsmasq = await ensureDnsmasq(handle.netns, handle.dhcpDir, planDhcp({
    network: net.name, namespace: desired.namespace, dir: handle.dhcpDir, private: net.private,
    range: net.dhcp, reservations: reservationsOf(net, guests),
    // Over a stretch, guests must send frames the VXLAN device can carry (option 26).
    ...(desired.vxlan ? { mtu: desired.lan.mtu } : {}),
  }));
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
      const { lease } = await reserve(net, ctx);
      const record = ctx.records.write(recordOf(net, lease, 'running'));
      return { record, ...(await buildRouter(net, lease, ctx)) };
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
    await buildRouter(current, current.lease, ctx);
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
export async function planFor(net: NetworkSpec, lease: Upstream, ctx: Context, guests: GuestRecord[] = ctx.guests.list()): Promise<DesiredRouter> {
  const lanMtu = linkMtu(net.bridge);
  if (lanMtu === undefined) throw new NatnsError(`bridge ${net.bridge} does not exist; libvirt should have created it before the 'started' hook`);
  const wanMtu = linkMtu(lease.bridge);
  if (wanMtu === undefined) throw new NatnsError(`upstream bridge ${lease.bridge} does not exist on this host`);
  // A patch the host cannot reach through needs no guard (and no query).
  const guarded = patchFor(net.patch).hostReachable && hostAccessOf(ctx, lease) === 'deny';
  return planRouter({
    network: net, lease, mtu: { lan: lanMtu, wan: wanMtu },
    forwards: forwardsOf(ctx, net, guests),
    oneToOne: oneToOneOf(net, guests),
    hostAddresses: guarded ? await hostAddressesOn(lease.bridge) : [],
    ...(net.vxlan ? { underlay: (await underlayOf(net, ctx))!, standby: !readRole(ctx.stateDir, net.uuid).active } : {}),
  });
}

/**
 * The agent's switch: record this host's role for a running stretched network and converge its
 * router on it (sides and routes up or down, DHCP with them). Returns false when the network is
 * not running here (then only the role is recorded, for its next start).
 */
export async function applyRole(ctx: Context, uuid: string, role: Role): Promise<boolean> {
  const record = ctx.records.read(uuid);
  if (!record) return false;
  return ctx.network(record).withLock(async () => {
    writeRole(ctx.stateDir, uuid, role);
    const current = ctx.records.read(uuid);
    if (current?.phase !== 'running' || !ctx.network(current).netns.exists()) return false;
    await buildRouter(current, current.lease, ctx);
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
    await ctx.ipam.release(record.lease, record.uuid);
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
