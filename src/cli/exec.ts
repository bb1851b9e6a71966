import { execa } from 'execa';
import { makeContext } from '../core/context.js';
import { findNetwork } from '../core/lookup.js';
import { InputError } from '../domain/errors.js';

export const help = `Usage: natns exec NETWORK -- COMMAND [ARG...]

Run COMMAND inside the network's namespace (its router), with your terminal. This is how an
admin starts a transparent proxy for <natns:tproxy> there, e.g.
  natns exec tenant-a -- squid -f /etc/squid/tenant-a.conf
`;

export async function run(args: string[]): Promise<number> {
  const dash = args.indexOf('--');
  const name = args[0];
  const command = dash >= 0 ? args.slice(dash + 1) : args.slice(1);
  if (!name || name === '--' || command.length === 0) throw new InputError('usage: natns exec NETWORK -- COMMAND [ARG...]');
  const ctx = makeContext();
  const record = findNetwork(ctx, name, 'exec');
  const { netns, names } = ctx.network(record);
  if (!netns.exists()) throw new InputError(`network ${record.name} is not running (no namespace ${names.namespace})`);
  const r = await execa('ip', ['netns', 'exec', names.namespace, ...command], { stdio: 'inherit', reject: false });
  return r.exitCode ?? 1;
}
