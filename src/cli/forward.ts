import { makeContext } from '../core/context.js';
import { addAdminForward, removeAdminForward } from '../core/admin-forwards.js';
import { forwardsOf, ownerName, publishedAt, targetOf } from '../core/forwards.js';
import { findNetwork } from '../core/lookup.js';
import { parseAddress } from '../domain/address.js';
import { InputError } from '../domain/errors.js';
import type { NetworkRecord } from '../domain/model.js';
import { printable } from '../domain/text.js';
import { parsePort, parseProto } from '../domain/validate.js';
import { table } from './output.js';

export async function list(network: string | undefined, options: { json?: boolean }): Promise<number> {
  const ctx = makeContext();
  const records = network !== undefined ? [findNetwork(ctx, network, 'forward')] : ctx.records.list();
  const rows = records.flatMap((r) => forwardsOf(ctx, r).map((f) => ({
    network: r.name, proto: f.proto, upstream: publishedAt(r, f), to: targetOf(f), owner: ownerName(ctx, f.owner).replace(/ \(.*\)$/, ''),
  })));
  if (options.json) {
    process.stdout.write(JSON.stringify(rows, null, 2) + '\n');
    return 0;
  }
  process.stdout.write(table(['NETWORK', 'PROTO', 'UPSTREAM', 'TO', 'OWNER'], rows.map((r) => [r.network, r.proto, r.upstream, r.to, r.owner]), { shrink: [4, 0, 3, 2] }));
  return 0;
}

function done(verb: 'added' | 'removed', record: NetworkRecord, proto: string, port: number, json: boolean | undefined, to?: string): number {
  const at = record.lease ? `${record.lease.address}:${port}` : `[${record.lease6!.address}]:${port}`;
  if (json) process.stdout.write(JSON.stringify({ [verb]: { network: record.name, proto, upstream: at, ...(to ? { to } : {}) } }, null, 2) + '\n');
  else process.stdout.write(`${verb} ${proto} ${at} on network ${record.name}\n`);
  return 0;
}

export async function add(network: string, options: { proto: string; port: string; to: string; json?: boolean }): Promise<number> {
  const ctx = makeContext();
  const record = findNetwork(ctx, network, 'forward');
  const proto = parseProto(options.proto, '--proto');
  const port = parsePort(options.port, '--port');
  const m = /^([\d.]+):(\d+)$/.exec(options.to) ?? /^\[([0-9A-Fa-f:]+)\]:(\d+)$/.exec(options.to);
  if (!m) throw new InputError(`--to must be IP:PORT on the private side, like 10.0.0.100:80 or [fd00::100]:80 (got '${printable(options.to)}')`);
  const family = m[1]!.includes(':') ? 'ipv6' : 'ipv4';
  await addAdminForward(ctx, record, { proto, port, to: parseAddress(m[1]!, '--to', family), toPort: parsePort(m[2], '--to port') });
  return done('added', record, proto, port, options.json, options.to);
}

export async function remove(network: string, options: { proto: string; port: string; json?: boolean }): Promise<number> {
  const ctx = makeContext();
  const record = findNetwork(ctx, network, 'forward');
  const proto = parseProto(options.proto, '--proto');
  const port = parsePort(options.port, '--port');
  await removeAdminForward(ctx, record, { proto, port });
  return done('removed', record, proto, port, options.json);
}
