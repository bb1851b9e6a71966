import { familyOf, subnetText } from '../domain/address.js';
import { InputError } from '../domain/errors.js';
import type { NetworkRecord, Proto } from '../domain/model.js';
import { isGuestAddress } from '../domain/validate.js';
import type { Context } from './context.js';
import { checkPortFree, forwardsOf } from './forwards.js';
import { refreshNetwork } from './network.js';

/** `natns forward add`: kept in state and applied at once if the network runs. */
export async function addAdminForward(ctx: Context, record: NetworkRecord, f: { proto: Proto; port: number; to: string; toPort: number }): Promise<void> {
  const priv = familyOf(f.to) === 'ipv6' ? record.private6 : record.private;
  if (!priv || !isGuestAddress(priv, f.to)) {
    throw new InputError(`--to ${f.to} is not a guest address of network ${record.name} (${priv ? subnetText(priv) : 'it has no IPv6'})`);
  }
  await ctx.withGuestsLock(async () => {
    checkPortFree(ctx, record, forwardsOf(ctx, record), f);
    ctx.adminForwards.write(record.uuid, [...(ctx.adminForwards.read(record.uuid) ?? []), f]);
    await refreshNetwork(record, ctx);
  });
}

export async function removeAdminForward(ctx: Context, record: NetworkRecord, f: { proto: Proto; port: number }): Promise<void> {
  await ctx.withGuestsLock(async () => {
    const current = ctx.adminForwards.read(record.uuid) ?? [];
    const kept = current.filter((x) => !(x.proto === f.proto && x.port === f.port));
    if (kept.length === current.length) throw new InputError(`network ${record.name} has no admin forward of ${f.proto} port ${f.port}`);
    ctx.adminForwards.write(record.uuid, kept);
    await refreshNetwork(record, ctx);
  });
}
