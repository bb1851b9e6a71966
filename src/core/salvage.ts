import { familyOf } from '../domain/address.js';
import { errorText } from '../domain/errors.js';
import { upstreamBridgeOf, upstreamText, type NetworkSpec, type UpstreamSpec } from '../domain/model.js';
import { type BadFile } from '../sys/bad-files.js';
import { moveAside } from '../sys/files.js';
import type { Context } from './context.js';

/** Read every state file once, so that each one that cannot be used is in ctx.badFiles. */
export async function scanState(ctx: Context): Promise<void> {
  for (const record of ctx.records.list()) ctx.network(record).ports.list();
  ctx.guests.list();
  ctx.adminForwards.list();
  await ctx.ipam.leases();
}

/** What libvirt says, as salvage needs it (tests give it; repair asks virsh). */
export interface LibvirtNetworks {
  /** UUIDs of the networks libvirt runs: repair rebuilds their records from the live XML anyway. */
  active: Set<string>;
  /** A network's spec from its XML, if libvirt defines it (and it has natns metadata). */
  spec(uuid: string): Promise<NetworkSpec | undefined>;
}

/**
 * First step of `natns check --repair`: move every state file that cannot be used aside, to
 * PATH.corrupt-STAMP in the same folder (kept for the admin), then rebuild what the rest of the
 * state and libvirt still know: the record of a stopped network from its XML and the lease it
 * still holds, and a lease file from the network or guest record that names it. What cannot be
 * rebuilt comes back by itself (a guest's record and ports at its next start or reconnect) or
 * is the admin's to redo (admin forwards: the moved file shows what they were).
 */
export async function salvage(ctx: Context, libvirt: LibvirtNetworks): Promise<{ actions: string[]; errors: string[] }> {
  const actions: string[] = [];
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      errors.push(`${what}: ${errorText(err)}`);
    }
  };
  await scanState(ctx);
  const moved: BadFile[] = [];
  for (const bad of ctx.badFiles.take()) {
    await attempt(`${bad.path} (${bad.reason})`, async () => {
      const aside = moveAside(bad.path);
      moved.push(bad);
      actions.push(`moved ${bad.path} aside (${bad.reason}); kept as ${aside}`);
    });
  }
  for (const { key: uuid } of moved.filter((b) => b.kind === 'network' && !libvirt.active.has(b.key))) {
    await attempt(`rebuilding the record of network ${uuid}`, async () => {
      const spec = await libvirt.spec(uuid);
      // Undefined in libvirt: gc releases what it held. No lease: its next start leases one.
      const held = spec ? (await ctx.ipam.leases()).filter((l) => l.owner.uuid === uuid && l.owner.kind !== 'guest') : [];
      if (!spec || held.length === 0) return;
      const owner = { uuid, name: spec.name };
      const heldOf = (family: 'ipv4' | 'ipv6') => held.find((l) => familyOf(l.address) === family);
      await ctx.network(spec).withLock(async () => {
        const lease = spec.upstream ? await ctx.ipam.claim(spec.upstream, owner, heldOf('ipv4')) : undefined;
        const lease6 = spec.upstream6 ? { ...(await ctx.ipam.claim(spec.upstream6, owner, heldOf('ipv6'))), mode: spec.upstream6.mode } : undefined;
        const record = { ...spec, ...(lease ? { lease } : {}), ...(lease6 ? { lease6 } : {}), phase: 'stopped' as const };
        ctx.records.write(record);
        actions.push(`rebuilt the record of network ${spec.name} from libvirt (upstream ${upstreamText(record)} on ${upstreamBridgeOf(record)})`);
      });
    });
  }
  const lost = new Set(moved.filter((b) => b.kind === 'lease').map((b) => b.key));
  if (lost.size === 0) return { actions, errors };
  const records = ctx.records.list();
  for (const r of records) {
    for (const [lease, spec, key] of [[r.lease, r.upstream, 'lease'], [r.lease6, r.upstream6, 'lease6']] as const) {
      if (!lease || !spec || !lost.has(`${lease.bridge}/${lease.address}`)) continue;
      await attempt(`rewriting the lease of network ${r.name}`, async () => {
        const claimed = await ctx.ipam.claim(spec, { uuid: r.uuid, name: r.name }, lease);
        if (claimed.address !== lease.address || claimed.bridge !== lease.bridge) ctx.records.write({ ...r, [key]: { ...lease, ...claimed } });
        actions.push(`rewrote the lease of ${claimed.address} on ${claimed.bridge} for network ${r.name}`);
      });
    }
  }
  for (const g of ctx.guests.list()) {
    for (const n of g.networks) {
      const net = records.find((r) => r.name === n.network);
      const up = n.publicAddress && familyOf(n.publicAddress) === 'ipv6' ? net?.lease6 : net?.lease;
      if (!up || !n.publicAddress || !lost.has(`${up.bridge}/${n.publicAddress}`)) continue;
      const spec: UpstreamSpec = n.public?.pool
        ? { kind: 'pool', pool: n.public.pool }
        : { kind: 'fixed', bridge: up.bridge, address: n.publicAddress, prefix: up.prefix, gateway: up.gateway };
      await attempt(`rewriting the public lease of guest ${g.name}`, async () => {
        const lease = await ctx.ipam.claim(spec, { uuid: g.uuid, name: g.name, kind: 'guest' }, { bridge: up.bridge, address: n.publicAddress! });
        actions.push(`rewrote the lease of ${lease.address} on ${lease.bridge} for guest ${g.name}`);
      });
    }
  }
  return { actions, errors };
}
