import { makeContext } from '../core/context.js';
import { quickState } from '../core/status.js';
import type { NetworkRecord } from '../state/records.js';
import { table } from './output.js';

export const help = `Usage: natns list [--json]

List every network natns has set up: its bridge, namespace, private gateway, upstream
address and whether the kernel matches (up), holds nothing (down) or differs (drift).

  --json   a JSON array of {network, uuid, bridge, namespace, private, upstream, state}
`;

export function mapping(record: NetworkRecord) {
  return {
    network: record.name,
    uuid: record.uuid,
    bridge: record.bridge,
    namespace: record.namespace,
    private: `${record.private.address}/${record.private.prefix}`,
    upstream: {
      address: record.upstream.address,
      prefix: record.upstream.prefix,
      bridge: record.upstream.bridge,
      gateway: record.upstream.gateway,
      ...(record.upstream.pool ? { pool: record.upstream.pool } : {}),
    },
    state: quickState(record),
  };
}

export async function run(args: string[]): Promise<number> {
  const json = args.includes('--json');
  const rows = makeContext().records.list().map(mapping);
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
