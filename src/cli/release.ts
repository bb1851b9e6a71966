import { makeContext } from '../core/context.js';
import { releaseNetwork } from '../core/network.js';
import { InputError } from '../errors.js';
import { printable } from '../text.js';
import { parseIPv4 } from '../ipv4.js';
import { releaseLease } from '../ipam/upstream.js';

export const help = `Usage: natns release NETWORK|GUEST

Forget a stopped network: its upstream address goes back to the pool and its record is
deleted. A network keeps its address across stops and restarts until it is released. Given a
stopped guest's name, returns that guest's public (1:1) addresses instead.
`;

export async function run(args: string[]): Promise<number> {
  const name = args.find((a) => !a.startsWith('-'));
  if (!name) throw new InputError('natns release needs a NETWORK name (see natns list)');
  const ctx = makeContext();
  const record = ctx.records.findByName(name);
  if (!record) {
    const leases = ctx.leases.all().filter((l) => l.owner.kind === 'guest' && (l.owner.name === name || l.owner.uuid === name));
    if (leases.length === 0) throw new InputError(`natns knows no network or guest '${printable(name)}' (see natns list)`);
    if (ctx.guests.read(leases[0]!.owner.uuid)) throw new InputError(`guest ${printable(name)} is running; stop it first (virsh destroy ${printable(name)})`);
    for (const l of leases) {
      await releaseLease(ctx.leases, ctx.lockDir, l.bridge, parseIPv4(l.address, 'lease'), l.owner.uuid);
      process.stdout.write(`released ${l.address} on ${l.bridge} from guest ${l.owner.name}\n`);
    }
    return 0;
  }
  await releaseNetwork(record, ctx);
  process.stdout.write(`released ${record.upstream.address} on ${record.upstream.bridge} from network ${record.name}\n`);
  return 0;
}
