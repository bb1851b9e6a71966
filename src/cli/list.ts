import { makeContext, type Context } from '../core/context.js';
import { readRole } from '../core/role.js';
import { quickState } from '../core/status.js';
import { cidrText, compareAddresses } from '../domain/address.js';
import type { NetworkRecord } from '../domain/model.js';
import { table } from './output.js';

export const help = `Usage: natns list [--all-hosts] [--json]

List every network natns has set up: its bridge, namespace, private gateway, upstream
address and whether the kernel matches (up), holds nothing (down) or differs (drift).

  --all-hosts  every upstream lease of every host sharing the lease store (etcd), networks'
               and guests' alike: host, owner, kind, address, bridge, pool. On the file
               backend, this host's leases.
  A stretched network's STATE adds which host's router is active (this one: "active").
  --json       a JSON array of {network, uuid, bridge, namespace, private, upstream, state,
               and for stretched networks stretch: {vni, active, host, since}};
               with --all-hosts, of {host, owner, uuid, kind, address, bridge, pool}
`;

export function mapping(record: NetworkRecord, ctx: Context) {
  const { lease } = record;
  return {
    network: record.name,
    uuid: record.uuid,
    bridge: record.bridge,
    namespace: ctx.network(record).names.namespace,
    private: cidrText(record.private),
    upstream: {
      address: lease.address,
      prefix: lease.prefix,
      bridge: lease.bridge,
      gateway: lease.gateway,
      ...(lease.pool ? { pool: lease.pool } : {}),
    },
    state: quickState(record, ctx),
    // Stretched networks: whether this host's router is the active one, which host's is, since when.
    ...(record.vxlan ? { stretch: stretchOf(record, ctx) } : {}),
  };
}

export function stretchOf(record: NetworkRecord, ctx: Context): { vni: number; active: boolean; host: string | null; since: string | null } {
  const role = readRole(ctx.stateDir, record.uuid);
  return { vni: record.vxlan!.vni, active: record.phase === 'running' && role.active, host: role.host ?? null, since: role.since ?? null };
}

export async function run(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const ctx = makeContext();
  if (args.includes('--all-hosts')) return allHosts(ctx, json);
  const rows = ctx.records.list().map((r) => mapping(r, ctx));
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(
    table(
      ['NETWORK', 'BRIDGE', 'NAMESPACE', 'PRIVATE', 'UPSTREAM', 'UPSTREAM-BRIDGE', 'STATE'],
      rows.map((m) => [m.network, m.bridge, m.namespace, m.private, `${m.upstream.address}/${m.upstream.prefix}`, m.upstream.bridge,
        m.stretch ? `${m.state}, ${m.stretch.active ? 'active' : `standby (active: ${m.stretch.host ?? '?'})`}` : m.state]),
    ),
  );
  return 0;
}

/** Every host's leases, from the shared store: who holds which upstream address. */
async function allHosts(ctx: Context, json: boolean): Promise<number> {
  const rows = (await ctx.ipam.leases({ allHosts: true }))
    .map((l) => ({
      host: l.owner.host ?? '?', owner: l.owner.name, uuid: l.owner.uuid, kind: l.owner.kind ?? 'network',
      address: l.address, bridge: l.bridge, ...(l.owner.pool ? { pool: l.owner.pool } : {}),
    }))
    .sort((a, b) => a.bridge.localeCompare(b.bridge) || compareAddresses(a.address, b.address));
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(table(['HOST', 'OWNER', 'KIND', 'UPSTREAM', 'BRIDGE', 'POOL'], rows.map((r) => [r.host, r.owner, r.kind, r.address, r.bridge, r.pool ?? '-'])));
  return 0;
}
