import { makeContext, type Context } from '../core/context.js';
import { quickState } from '../core/status.js';
import { cidrText, compareAddresses } from '../domain/address.js';
import type { NetworkRecord } from '../domain/model.js';
import { table } from './output.js';

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
  };
}

export async function run(options: { allHosts?: boolean; json?: boolean }): Promise<number> {
  const json = options.json === true;
  const ctx = makeContext();
  // A broken config breaks the next network start: say so now rather than list as if all is well.
  ctx.config();
  if (options.allHosts) return allHosts(ctx, json);
  const rows = ctx.records.list().map((r) => mapping(r, ctx));
  if (json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(
    table(
      ['NETWORK', 'BRIDGE', 'NAMESPACE', 'PRIVATE', 'UPSTREAM', 'UPSTREAM-BRIDGE', 'STATE'],
      rows.map((m) => [m.network, m.bridge, m.namespace, m.private, `${m.upstream.address}/${m.upstream.prefix}`, m.upstream.bridge, m.state]),
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
