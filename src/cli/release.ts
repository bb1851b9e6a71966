import { makeContext } from '../core/context.js';
import { releaseNetwork } from '../core/network.js';
import { InputError } from '../errors.js';
import { printable } from '../text.js';

export const help = `Usage: natns release NETWORK

Forget a stopped network: its upstream address goes back to the pool and its record is
deleted. A network keeps its address across stops and restarts until it is released.
`;

export async function run(args: string[]): Promise<number> {
  const name = args.find((a) => !a.startsWith('-'));
  if (!name) throw new InputError('natns release needs a NETWORK name (see natns list)');
  const ctx = makeContext();
  const record = ctx.records.findByName(name);
  if (!record) throw new InputError(`natns knows no network '${printable(name)}' (see natns list)`);
  await releaseNetwork(record, ctx);
  process.stdout.write(`released ${record.upstream.address} on ${record.upstream.bridge} from network ${record.name}\n`);
  return 0;
}
