import { makeContext } from '../core/context.js';
import { releaseGuest } from '../core/guest.js';
import { publishedAt, targetOf } from '../core/forwards.js';
import { releaseNetwork } from '../core/network.js';
import { upstreamBridgeOf, upstreamText } from '../domain/model.js';

export async function run(name: string, options: { force?: boolean; json?: boolean }): Promise<number> {
  const ctx = makeContext();
  const record = ctx.records.findByName(name);
  const released: { address: string; bridge: string; kind: 'network' | 'guest'; owner: string; droppedForwards?: string[] }[] = [];
  if (!record) {
    for (const l of await releaseGuest(ctx, name)) released.push({ address: l.address, bridge: l.bridge, kind: 'guest', owner: l.owner.name });
  } else {
    const { adminForwards } = await releaseNetwork(record, ctx, { dropAdminForwards: options.force === true });
    released.push({
      address: upstreamText(record), bridge: upstreamBridgeOf(record), kind: 'network', owner: record.name,
      droppedForwards: adminForwards.map((f) => `${f.proto} ${publishedAt(record, { owner: 'admin', ...f })} -> ${targetOf({ owner: 'admin', ...f })}`),
    });
  }
  if (options.json) {
    process.stdout.write(JSON.stringify({ released }, null, 2) + '\n');
    return 0;
  }
  for (const r of released) {
    process.stdout.write(`released ${r.address} on ${r.bridge} from ${r.kind} ${r.owner}\n`);
    for (const f of r.droppedForwards ?? []) process.stdout.write(`dropped admin forward ${f}\n`);
  }
  return 0;
}
