import { makeContext, type Context } from '../core/context.js';
import { quickState } from '../core/status.js';
import { cidrText } from '../domain/address.js';
import type { NetworkRecord } from '../domain/model.js';
import { table } from './output.js';

export const help = `Usage: natns list [--json]

List every network natns has set up: its bridge, namespace, private gateway, upstream
address and whether the kernel matches (up), holds nothing (down) or differs (drift).

  --json   a JSON array of {network, uuid, bridge, namespace, private, upstream, state}
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
  };
}

export async function run(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const ctx = makeContext();
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
