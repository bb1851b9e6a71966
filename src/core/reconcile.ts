import { readdirSync } from 'node:fs';
import { errorText } from '../domain/errors.js';
import { upstreamBridgeOf, upstreamText, type NetworkRecord } from '../domain/model.js';
import { isNatnsHostDevice, NAMESPACE_PREFIX } from '../domain/names.js';
import { dnsmasqPid } from '../kernel/dnsmasq.js';
import { hostForwardDrops } from '../kernel/host.js';
import { Netns } from '../kernel/netns.js';
import { linkExists, namespaceExists } from '../kernel/sysfs.js';
import { readNetwork } from '../libvirt/network-xml.js';
import { virsh } from '../libvirt/virsh.js';
import { child, parseXml } from '../libvirt/xml.js';
import type { Context } from './context.js';
import { releaseNetwork, startNetwork, stopNetwork } from './network.js';
import { inspect } from './status.js';

export interface Finding {
  network?: string;
  what: string;
}

function claimed(ctx: Context): { namespaces: Set<string>; devices: Set<string>; uuids: Set<string> } {
  const names = ctx.records.list().map((r) => ctx.network(r).names);
  return {
    namespaces: new Set(names.map((n) => n.namespace)),
    devices: new Set(names.flatMap((n) => Object.values(n.hostDevices))),
    uuids: new Set(ctx.records.list().map((r) => r.uuid)),
  };
}

/** Read-only: every difference between what natns planned and what the kernel holds. */
export async function check(ctx: Context, only?: string): Promise<Finding[]> {
  const findings: Finding[] = [];
  const records = ctx.records.list().filter((r) => only === undefined || r.name === only || r.uuid === only);
  for (const record of records) findings.push(...(await checkNetwork(record, ctx)).map((what) => ({ network: record.name, what })));
  const running = records.filter((r) => r.phase === 'running');
  const bridges = [...new Set(running.flatMap((r) => [r.bridge, upstreamBridgeOf(r)]))].sort();
  findings.push(...(await hostForwardDrops(bridges)).map((what) => ({ what })));
  if (only === undefined) findings.push(...(await orphans(ctx)).map((o) => ({ what: o.what })));
  return findings;
}

async function checkNetwork(record: NetworkRecord, ctx: Context): Promise<string[]> {
  const handle = ctx.network(record);
  if (record.phase !== 'running') {
    const left = [
      ...(handle.netns.exists() ? [`namespace ${handle.names.namespace}`] : []),
      ...Object.values(handle.names.hostDevices).filter(linkExists),
    ];
    return left.length ? [`the network is ${record.phase} but its router is still present: ${left.join(', ')}`] : [];
  }
  const found = await inspect(record, ctx);
  if (!found.changes) return [`the network should be running but its bridge ${record.bridge} or ${upstreamBridgeOf(record)} is gone`];
  const out = [...found.changes.conflicts, ...found.changes.differences];
  if ((record.dhcp || record.private6) && dnsmasqPid(handle.dhcpDir) === undefined) out.push('dnsmasq is not running');
  return out;
}

interface Orphan {
  what: string;
  remove: () => Promise<void>;
}

/** natns-named objects and leases that no network record claims. */
async function orphans(ctx: Context): Promise<Orphan[]> {
  const { namespaces, devices, uuids } = claimed(ctx);
  const out: Orphan[] = [];
  for (const ns of safeReaddir('/run/netns')) {
    if (!ns.startsWith(NAMESPACE_PREFIX) || namespaces.has(ns)) continue;
    out.push({
      what: `namespace ${ns} belongs to no network`,
      remove: async () => {
        // Whatever still runs in it (a dnsmasq) must go first, or the namespace lingers.
        const pids = (await Netns.host.run(['ip', 'netns', 'pids', ns])).stdout.split('\n').filter(Boolean);
        for (const pid of pids) {
          try {
            process.kill(Number(pid), 'SIGKILL');
          } catch {
            // Gone already.
          }
        }
        await Netns.host.run(['ip', 'netns', 'del', ns]);
      },
    });
  }
  for (const dev of safeReaddir('/sys/class/net')) {
    if (!isNatnsHostDevice(dev) || devices.has(dev)) continue;
    out.push({ what: `link ${dev} belongs to no network`, remove: async () => void (await Netns.host.run(['ip', 'link', 'del', dev])) });
  }
  for (const lease of await ctx.ipam.leases()) {
    // A stopped guest keeps its public address; repair releases it once libvirt forgets the guest.
    if (uuids.has(lease.owner.uuid) || lease.owner.kind === 'guest') continue;
    out.push({
      what: `lease ${lease.address} on ${lease.bridge} belongs to no network (was ${lease.owner.name})`,
      remove: () => ctx.ipam.release(lease, lease.owner.uuid),
    });
  }
  return out;
}

/**
 * Converge everything on what libvirt says: networks it reports active are (re)built from their
 * live XML, routers of inactive ones are removed, networks it no longer defines are forgotten and
 * their addresses released, and natns-named leftovers nobody claims are removed.
 */
export async function repair(ctx: Context): Promise<{ actions: string[]; errors: string[] }> {
  const actions: string[] = [];
  const errors: string[] = [];
  const attempt = async (what: string, fn: () => Promise<string | undefined>) => {
    try {
      const done = await fn();
      if (done) actions.push(done);
    } catch (err) {
      errors.push(`${what}: ${errorText(err)}`);
    }
  };
  const active = await libvirtUuids(['net-list', '--uuid']);
  const defined = { networks: await libvirtUuids(['net-list', '--uuid', '--all']), guests: await libvirtUuids(['list', '--uuid', '--all']) };
  for (const uuid of active) {
    await attempt(`network ${uuid}`, async () => {
      const xml = await virsh(['net-dumpxml', uuid], `read network ${uuid}`);
      const node = child(parseXml(xml, `network ${uuid}`), 'network');
      const spec = node ? readNetwork(node).spec : undefined;
      if (!spec) return undefined;
      const result = await startNetwork(spec, ctx);
      const n = result.changes.differences.length;
      return n ? `converged network ${spec.name} (${n} difference${n === 1 ? '' : 's'} repaired)` : undefined;
    });
  }
  for (const record of ctx.records.list()) {
    if (active.has(record.uuid)) continue;
    await attempt(`network ${record.name}`, async () => {
      const { names } = ctx.network(record);
      const left = namespaceExists(names.namespace) || Object.values(names.hostDevices).some(linkExists);
      if (left || record.phase === 'running') {
        await stopNetwork(record, ctx);
        if (left) actions.push(`removed the router of inactive network ${record.name}`);
      }
      return undefined;
    });
  }
  const released = await releaseUndefined(ctx, defined);
  actions.push(...released.actions);
  errors.push(...released.errors);
  for (const o of await orphans(ctx)) {
    await attempt(o.what, async () => {
      await o.remove();
      return `removed: ${o.what}`;
    });
  }
  return { actions, errors };
}

async function libvirtUuids(args: string[]): Promise<Set<string>> {
  const out = await virsh(args, `ask libvirt (virsh ${args[0]})`);
  return new Set(out.split('\n').map((l) => l.trim().toLowerCase()).filter(Boolean));
}

/**
 * libvirt runs no hook when a network or guest is undefined: release the addresses of those it
 * no longer knows (a network whose router still exists is left for repair to stop first). Each
 * failure is reported and the rest carries on.
 */
export async function releaseUndefined(ctx: Context, defined?: { networks: Set<string>; guests: Set<string> }): Promise<{ actions: string[]; errors: string[] }> {
  const actions: string[] = [];
  const errors: string[] = [];
  const networks = defined?.networks ?? await libvirtUuids(['net-list', '--uuid', '--all']);
  const guests = defined?.guests ?? await libvirtUuids(['list', '--uuid', '--all']);
  for (const record of ctx.records.list()) {
    if (networks.has(record.uuid) || ctx.network(record).netns.exists()) continue;
    try {
      await releaseNetwork(record, ctx);
      actions.push(`released ${upstreamText(record)} of undefined network ${record.name}`);
    } catch (err) {
      errors.push(`${record.name}: ${errorText(err)}`);
    }
  }
  for (const lease of (await ctx.ipam.leases()).filter((l) => l.owner.kind === 'guest' && !guests.has(l.owner.uuid))) {
    try {
      await ctx.ipam.release(lease, lease.owner.uuid);
      ctx.guests.remove(lease.owner.uuid);
      actions.push(`released public address ${lease.address} of undefined guest ${lease.owner.name}`);
    } catch (err) {
      errors.push(`guest ${lease.owner.name}: ${errorText(err)}`);
    }
  }
  return { actions, errors };
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
