import { makeContext, type Context } from '../core/context.js';
import { checkPortFree, forwardsOf, ownerName } from '../core/forwards.js';
import { refreshNetwork } from '../core/network.js';
import { InputError } from '../errors.js';
import { formatCidr, formatIPv4, inSubnet, isHostAddress, networkOf, parseIPv4 } from '../ipv4.js';
import { parsePort, parseProto } from '../libvirt/domain-xml.js';
import { withLock } from '../state/lock.js';
import type { NetworkRecord } from '../state/records.js';
import { printable } from '../text.js';
import { table } from './output.js';
import { join } from 'node:path';

export const help = `Usage:
  natns forward list [NETWORK]
  natns forward add NETWORK --proto tcp|udp --port N --to IP:PORT
  natns forward remove NETWORK --proto tcp|udp --port N

Publish a port of a network's upstream address to an address on its private side. Forwards
added here are kept and restored whenever the network starts; guests declare their own in their
domain metadata (<natns:forward>), which follow the guest's start and stop. A port can be
published only once per network.
`;

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

function findNetwork(ctx: Context, name: string | undefined): NetworkRecord {
  if (!name) throw new InputError('natns forward needs a NETWORK (see natns list)');
  const record = ctx.records.findByName(name);
  if (!record) throw new InputError(`natns knows no network '${printable(name)}' (see natns list)`);
  return record;
}

export async function run(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  const ctx = makeContext();
  const positional = rest.filter((a, i) => !a.startsWith('--') && !(rest[i - 1] ?? '').startsWith('--'));
  if (verb === 'list') {
    const records = positional[0] ? [findNetwork(ctx, positional[0])] : ctx.records.list();
    const rows = records.flatMap((r) => forwardsOf(ctx, r).map((f) => [
      r.name, f.proto, `${r.upstream.address}:${f.port}`, `${f.to}:${f.toPort}`, ownerName(ctx, f.owner).replace(/ \(.*\)$/, ''),
    ]));
    process.stdout.write(table(['NETWORK', 'PROTO', 'UPSTREAM', 'TO', 'OWNER'], rows));
    return 0;
  }
  if (verb !== 'add' && verb !== 'remove') throw new InputError(`natns forward: unknown verb '${printable(verb ?? '')}' (list, add or remove)`);
  const record = findNetwork(ctx, positional[0]);
  const proto = parseProto(option(rest, '--proto'), '--proto');
  const port = parsePort(option(rest, '--port'), '--port');
  await withLock(join(ctx.lockDir, 'guests.lock'), async () => {
    const current = ctx.adminForwards.read(record.uuid) ?? [];
    if (verb === 'add') {
      const to = option(rest, '--to');
      const m = /^([\d.]+):(\d+)$/.exec(to ?? '');
      if (!m) throw new InputError(`--to must be IP:PORT on the private side, like 10.0.0.100:80 (got '${printable(to ?? '')}')`);
      const ip = parseIPv4(m[1]!, '--to');
      const gw = parseIPv4(record.private.address, 'record');
      if (!inSubnet(ip, gw, record.private.prefix) || !isHostAddress(ip, record.private.prefix) || ip === gw) {
        throw new InputError(`--to ${m[1]} is not a guest address of network ${record.name} (${formatCidr(networkOf(gw, record.private.prefix), record.private.prefix)})`);
      }
      checkPortFree(ctx, record, forwardsOf(ctx, record), { proto, port });
      ctx.adminForwards.write(record.uuid, [...current, { proto, port, to: formatIPv4(ip), toPort: parsePort(m[2], '--to port') }]);
    } else {
      const kept = current.filter((f) => !(f.proto === proto && f.port === port));
      if (kept.length === current.length) throw new InputError(`network ${record.name} has no admin forward of ${proto} port ${port}`);
      ctx.adminForwards.write(record.uuid, kept);
    }
    await refreshNetwork(record, ctx);
  });
  process.stdout.write(`${verb === 'add' ? 'added' : 'removed'} ${proto} ${record.upstream.address}:${port} on network ${record.name}\n`);
  return 0;
}
