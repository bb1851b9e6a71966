import { makeContext } from '../core/context.js';
import { releaseGuest } from '../core/guest.js';
import { releaseNetwork } from '../core/network.js';
import { InputError } from '../domain/errors.js';
import { upstreamBridgeOf, upstreamText } from '../domain/model.js';

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
    for (const l of await releaseGuest(ctx, name)) process.stdout.write(`released ${l.address} on ${l.bridge} from guest ${l.owner.name}\n`);
    return 0;
  }
  await releaseNetwork(record, ctx);
  process.stdout.write(`released ${upstreamText(record)} on ${upstreamBridgeOf(record)} from network ${record.name}\n`);
  return 0;
}
