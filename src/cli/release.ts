import { makeContext } from '../core/context.js';
import { releaseGuest } from '../core/guest.js';
import { releaseNetwork } from '../core/network.js';

export async function run(name: string, options: { json?: boolean }): Promise<number> {
  const ctx = makeContext();
  const record = ctx.records.findByName(name);
  const released: { address: string; bridge: string; kind: 'network' | 'guest'; owner: string }[] = [];
  if (!record) {
    for (const l of await releaseGuest(ctx, name)) released.push({ address: l.address, bridge: l.bridge, kind: 'guest', owner: l.owner.name });
  } else {
    await releaseNetwork(record, ctx);
    released.push({ address: record.lease.address, bridge: record.lease.bridge, kind: 'network', owner: record.name });
  }
  if (options.json) process.stdout.write(JSON.stringify({ released }, null, 2) + '\n');
  else for (const r of released) process.stdout.write(`released ${r.address} on ${r.bridge} from ${r.kind} ${r.owner}\n`);
  return 0;
}
