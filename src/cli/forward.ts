import { makeContext } from '../core/context.js';
import { addAdminForward, removeAdminForward } from '../core/admin-forwards.js';
import { forwardsOf, ownerName, publishedAt, targetOf } from '../core/forwards.js';
import { findNetwork } from '../core/lookup.js';
import { parseAddress } from '../domain/address.js';
import { InputError } from '../domain/errors.js';
import { printable } from '../domain/text.js';
import { parsePort, parseProto } from '../domain/validate.js';
import { table } from './output.js';

export const help = `Usage:
  natns forward list [NETWORK]
  natns forward add NETWORK --proto tcp|udp --port N --to IP:PORT|[IPV6]:PORT
  natns forward remove NETWORK --proto tcp|udp --port N

Publish a port of a network's upstream address to an address on its private side (an IPv6
target publishes it on the network's upstream IPv6 address). Forwards
added here are kept and restored whenever the network starts; guests declare their own in their
domain metadata (<natns:forward>), which follow the guest's start and stop. A port can be
published only once per network.
`;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

export async function run(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  const ctx = makeContext();
  const positional = rest.filter((a, i) => !a.startsWith('--') && !(rest[i - 1] ?? '').startsWith('--'));
  if (verb === 'list') {
    const records = positional[0] ? [findNetwork(ctx, positional[0], 'forward')] : ctx.records.list();
    const rows = records.flatMap((r) => forwardsOf(ctx, r).map((f) => [
      r.name, f.proto, publishedAt(r, f), targetOf(f), ownerName(ctx, f.owner).replace(/ \(.*\)$/, ''),
    ]));
    process.stdout.write(table(['NETWORK', 'PROTO', 'UPSTREAM', 'TO', 'OWNER'], rows));
    return 0;
  }
  if (verb !== 'add' && verb !== 'remove') throw new InputError(`natns forward: unknown verb '${printable(verb ?? '')}' (list, add or remove)`);
  const record = findNetwork(ctx, positional[0], 'forward');
  const proto = parseProto(option(rest, '--proto'), '--proto');
  const port = parsePort(option(rest, '--port'), '--port');
  if (verb === 'add') {
    const to = option(rest, '--to');
    const m = /^([\d.]+):(\d+)$/.exec(to ?? '') ?? /^\[([0-9A-Fa-f:]+)\]:(\d+)$/.exec(to ?? '');
    if (!m) throw new InputError(`--to must be IP:PORT on the private side, like 10.0.0.100:80 or [fd00::100]:80 (got '${printable(to ?? '')}')`);
    const family = m[1]!.includes(':') ? 'ipv6' : 'ipv4';
    await addAdminForward(ctx, record, { proto, port, to: parseAddress(m[1]!, '--to', family), toPort: parsePort(m[2], '--to port') });
  } else {
    await removeAdminForward(ctx, record, { proto, port });
  }
  const at = record.lease ? `${record.lease.address}:${port}` : `[${record.lease6!.address}]:${port}`;
  process.stdout.write(`${verb === 'add' ? 'added' : 'removed'} ${proto} ${at} on network ${record.name}\n`);
  return 0;
}
