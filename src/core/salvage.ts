import { errorText } from '../domain/errors.js';
import type { NetworkSpec, UpstreamSpec } from '../domain/model.js';
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
      const held = spec && (await ctx.ipam.leases()).find((l) => l.owner.uuid === uuid && l.owner.kind !== 'guest');
      if (!spec || !held) return;
      await ctx.network(spec).withLock(async () => {
        const lease = await ctx.ipam.claim(spec.upstream, { uuid, name: spec.name }, held);
        ctx.records.write({ ...spec, lease, phase: 'stopped' });
        actions.push(`rebuilt the record of network ${spec.name} from libvirt (upstream ${lease.address} on ${lease.bridge})`);
      });
    });
  }
  const lost = new Set(moved.filter((b) => b.kind === 'lease').map((b) => b.key));
  if (lost.size === 0) return { actions, errors };
  const records = ctx.records.list();
  for (const r of records.filter((x) => lost.has(`${x.lease.bridge}/${x.lease.address}`))) {
    await attempt(`rewriting the lease of network ${r.name}`, async () => {
      const lease = await ctx.ipam.claim(r.upstream, { uuid: r.uuid, name: r.name }, r.lease);
      if (lease.address !== r.lease.address || lease.bridge !== r.lease.bridge) ctx.records.write({ ...r, lease });
      actions.push(`rewrote the lease of ${lease.address} on ${lease.bridge} for network ${r.name}`);
    });
  }
  for (const g of ctx.guests.list()) {
    for (const n of g.networks) {
      const net = records.find((r) => r.name === n.network);
      if (!net || !n.publicAddress || !lost.has(`${net.lease.bridge}/${n.publicAddress}`)) continue;
      const up = net.lease;
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
