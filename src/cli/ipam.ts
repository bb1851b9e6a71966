import { makeContext } from '../core/context.js';
import { InputError } from '../domain/errors.js';
import { printable } from '../domain/text.js';
import { migrateToEtcd } from '../ipam/migrate.js';

export const help = `Usage: natns ipam migrate --to etcd

Move this host's upstream leases from files (/var/lib/natns/leases) into the etcd cluster
that the natns config names ("ipam": {"backend": "etcd", ...}): each becomes an etcd lease naming
this host, and the address a network or guest holds stays the same. Refused, with nothing moved,
when another host already holds one of the addresses in etcd. Until it has run, a host whose
config says etcd refuses to lease (a file lease could otherwise be handed out twice).
`;

export async function run(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb !== 'migrate') throw new InputError(`natns ipam: unknown verb '${printable(verb ?? '')}' (natns ipam migrate --to etcd)`);
  const to = rest[rest.indexOf('--to') + 1];
  if (!rest.includes('--to') || to !== 'etcd') throw new InputError(`natns ipam migrate: say where to, as --to etcd (got ${printable(to ?? 'nothing')})`);
  const ctx = makeContext();
  const moved = await migrateToEtcd(ctx.config, ctx.stateDir);
  for (const l of moved) process.stdout.write(`moved ${l.address} on ${l.bridge} (${l.owner.kind ?? 'network'} ${l.owner.name}) into etcd for host ${l.owner.host}\n`);
  process.stdout.write(moved.length ? `${moved.length} lease(s) moved into etcd\n` : 'no file leases to move\n');
  return 0;
}
