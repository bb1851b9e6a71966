import { makeContext } from '../core/context.js';
import { migrateToEtcd } from '../ipam/migrate.js';

// Only etcd is a destination; the command line refuses anything else.
export async function migrate(options: { to: 'etcd'; json?: boolean }): Promise<number> {
  const ctx = makeContext();
  const moved = await migrateToEtcd(ctx.config, ctx.stateDir);
  if (options.json) {
    process.stdout.write(JSON.stringify({ to: options.to, moved: moved.map((l) => ({ address: l.address, bridge: l.bridge, kind: l.owner.kind ?? 'network', owner: l.owner.name, host: l.owner.host })) }, null, 2) + '\n');
    return 0;
  }
  for (const l of moved) process.stdout.write(`moved ${l.address} on ${l.bridge} (${l.owner.kind ?? 'network'} ${l.owner.name}) into etcd for host ${l.owner.host}\n`);
  process.stdout.write(moved.length ? `${moved.length} lease(s) moved into etcd\n` : 'no file leases to move\n');
  return 0;
}
